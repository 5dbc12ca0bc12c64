"""Run one check against one submission in a subprocess, with limits.

Isolation, not a security sandbox: the child runs with the grader's user
rights.  It gets a wall-clock limit, a memory limit (POSIX ``RLIMIT_AS``) and
an output limit (``RLIMIT_FSIZE`` on the file its stdout and stderr go to),
so a submission that hangs, loops at import, exits, prints megabytes or
allocates without bound loses that check with a clear reason and cannot stop
or slow the rest.  Run untrusted code inside a container (see the README).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Limits", "run_check"]


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 5.0  # a check takes well under a second on the virtual clock
    memory_mb: int = 1024
    output_bytes: int = 1_000_000


def run_check(submission: Path, challenge: int, check_key: str, limits: Limits = Limits()) -> tuple[bool, str]:
    """Return ``(passed, reason)``; *reason* is Chinese and empty on success."""
    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        result_path = Path(tmp) / "result.jsonl"
        output_path = Path(tmp) / "output.txt"
        command = [sys.executable, "-m", "course_lib.grading._child", str(submission), str(challenge),
                   check_key, str(result_path), str(limits.memory_mb), str(limits.output_bytes)]
        with open(output_path, "wb") as output:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=output, cwd=tmp,
                start_new_session=(os.name == "posix"), env={**os.environ, "PYTHONHASHSEED": "0"},
            )
            try:
                returncode = process.wait(timeout=limits.wall_seconds)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill(process)
                returncode, timed_out = None, True
        records = _read(result_path)
        final = next((r for r in reversed(records) if "passed" in r), None)
        if output_path.stat().st_size >= limits.output_bytes:
            return False, (f"打印了太多内容（超过 {limits.output_bytes // 1_000_000} MB），"
                           "检查被中断；请删掉循环里的 print")
        if final is not None:
            return bool(final["passed"]), final.get("reason", "")
        imported = any(r.get("stage") == "imported" for r in records)
        if timed_out:
            if not imported:
                return False, (f"导入你的文件超过了 {limits.wall_seconds:g} 秒仍未完成："
                               "模块顶层可能有死循环或耗时操作")
            return False, f"检查运行超过 {limits.wall_seconds:g} 秒仍未结束：程序卡住了（死循环或死锁）"
        if returncode is not None and returncode < 0:
            name = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else -returncode
            return False, f"进程被系统信号 {name} 终止：可能用了太多内存或输出"
        return False, (f"进程在检查完成前退出了（退出码 {returncode}）："
                       "可能调用了 os._exit()，或解释器崩溃")


def _kill(process: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)  # the child and anything it started
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
