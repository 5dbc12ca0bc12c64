"""Run one check's scenario against one submission in a subprocess, with limits.

The child (`_child.py`) imports the submission, runs the scenario whose
parameters it gets on stdin, and reports raw observations on its own stdout;
whatever the submission prints goes to stderr.  The grader reads both pipes
itself, bounded in size and in time, and never touches a file the
submission could replace (a directory, a named pipe) or delete.

On POSIX the child runs under `_supervise.py`, in a session of its own:
that process enforces the wall-clock limit and, when the child ends, kills
every process it started (forks, double forks, ``setsid()`` daemons), with
a cgroup pids limit where one can be made.  The child limits its own memory
(``RLIMIT_AS``), file sizes and, for a normal user, its process count
(``RLIMIT_NPROC``).  It gets a clean environment: HOME, TMPDIR and the
working directory are a scratch folder, and nothing of the grader's
environment (the grading salt, say) reaches it.  If the submission kills
its supervisor, the grader still finds its processes by a marker in their
environment and kills them.

This is isolation, not a security sandbox: the code runs with the grader's
user rights, so it can signal the grader or leave a process that outlives
it.  ``Limits(sandbox=True)`` adds bubblewrap where installed: a PID
namespace of its own, no network, everything read-only but the scratch
folder.  The command line uses it for a batch whenever it works.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional

import course_lib

from .observations import ChildReport, parse_report

__all__ = ["Limits", "Run", "bubblewrap", "bubblewrap_works", "run_check"]

SUPERVISOR = Path(__file__).with_name("_supervise.py")
LIBRARY_ROOT = Path(course_lib.__file__).resolve().parent.parent
MARKER = "COURSE_GRADING_RUN"
GRACE_SECONDS = 5.0  # beyond the wall limit, for the supervisor's sweep and our reads
TIMED_OUT, STOPPED = 124, 125  # the supervisor's exit codes


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 5.0  # a check takes well under a second on the virtual clock
    memory_mb: int = 1024
    output_bytes: int = 1_000_000
    report_bytes: int = 1_000_000
    max_processes: int = 64  # a cgroup counts threads too
    sandbox: bool = False  # bubblewrap: no network, read-only file system but the scratch folder


@dataclass
class Run:
    """What happened when a check's child ran: its report, or why there is none to judge."""

    report: ChildReport = field(default_factory=ChildReport)
    failure: str = ""  # a Chinese reason when the run itself failed (time, output, crash)


def bubblewrap() -> Optional[str]:
    """The bubblewrap executable, or None."""
    return shutil.which("bwrap")


@functools.cache
def bubblewrap_works() -> bool:
    """Whether bubblewrap is installed and may make namespaces here (some containers forbid it)."""
    executable = bubblewrap()
    if executable is None:
        return False
    try:
        return subprocess.run([executable, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net",
                               "--proc", "/proc", "--dev", "/dev", "true"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_check(submission: Path, challenge: int, check_key: str, params: dict[str, Any],
              limits: Limits = Limits()) -> Run:
    """Run one scenario in a fresh child; bounded in time, output and processes."""
    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        scratch = Path(tmp).resolve()
        token = secrets.token_hex(8)
        process = subprocess.Popen(
            _command(_copy_into(scratch, submission), challenge, check_key, limits, scratch),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=scratch,
            env=_environment(scratch, token), start_new_session=(os.name == "posix"),
        )
        report = _Drain(process.stdout, limits.report_bytes)
        output = _Drain(process.stderr, limits.output_bytes, on_overflow=lambda: _stop(process))
        # However the supervisor ends (its own sweep done, or killed by the submission),
        # whatever still carries this run's marker dies, so the pipes close.
        threading.Thread(target=lambda: (process.wait(), _sweep_marked(token)), daemon=True).start()
        try:
            process.stdin.write(json.dumps(params).encode())
            process.stdin.close()
        except OSError:  # it died before reading its parameters
            pass
        deadline = time.monotonic() + limits.wall_seconds + GRACE_SECONDS
        finished = report.join(deadline) and output.join(deadline)
        # The supervisor exits with codes of its own; ended by a signal before we
        # killed it, it was killed from outside (by the submission).
        before_ours = process.poll()
        if not finished:
            _kill(process)
        try:
            returncode = process.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _kill(process)
            returncode = process.wait(timeout=GRACE_SECONDS)
        _sweep_marked(token)
        killed_from_outside = before_ours is not None and before_ours < 0
        return _interpret(parse_report(report.kept, report.overflowed), returncode, output, limits,
                          finished, killed_from_outside)


def _copy_into(scratch: Path, submission: Path) -> tuple[Path, Path]:
    """The submission's copy in *scratch* (which the child runs) and its own folder.

    The child may write to the file it runs; the learner's file stays as it
    was, so the next grading sees the same content and gets the same seed.
    """
    copy = scratch / "submission" / submission.name
    copy.parent.mkdir()
    shutil.copyfile(submission, copy)
    return copy, submission.parent


def _command(files: tuple[Path, Path], challenge: int, check_key: str, limits: Limits,
             scratch: Path) -> list[str]:
    copy, folder = files
    child = [sys.executable, "-m", "course_lib.grading._child", str(copy), str(folder), str(challenge),
             check_key, str(limits.memory_mb), str(limits.output_bytes)]
    if limits.sandbox:
        child = _in_bubblewrap(child, scratch)
    if os.name != "posix":
        return child
    return [sys.executable, "-I", "-S", str(SUPERVISOR), f"{limits.wall_seconds:g}",
            str(limits.max_processes), "--", *child]


def _in_bubblewrap(command: list[str], scratch: Path) -> list[str]:
    """*command* with no network and a read-only view of everything but *scratch*."""
    executable = bubblewrap()
    if executable is None:
        raise RuntimeError("--sandbox needs bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)")
    return [executable, "--ro-bind", "/", "/", "--dev", "/dev", "--bind", str(scratch), str(scratch),
            "--unshare-net", "--unshare-ipc", "--unshare-pid", "--proc", "/proc", "--die-with-parent",
            "--chdir", str(scratch), *command]


def _environment(scratch: Path, token: str) -> dict[str, str]:
    """A clean environment: nothing of the grader's (its salt, its HOME) reaches the child."""
    keep = {name: os.environ[name] for name in ("PATH", "SYSTEMROOT", "LANG", "LC_ALL")
            if name in os.environ}
    return {**keep, "HOME": str(scratch), "TMPDIR": str(scratch), "TEMP": str(scratch),
            "TMP": str(scratch), "PYTHONPATH": str(LIBRARY_ROOT), "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8", MARKER: token}


class _Drain:
    """Read a pipe to its end in a thread, keeping at most *limit* bytes."""

    def __init__(self, pipe: IO[bytes], limit: int, on_overflow: Any = None) -> None:
        self.kept = b""
        self.total = 0
        self.overflowed = False
        self._pipe, self._limit, self._on_overflow = pipe, limit, on_overflow
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        chunks, kept = [], 0
        while chunk := self._pipe.read1(65536):
            self.total += len(chunk)
            if kept < self._limit:
                chunks.append(chunk[:self._limit - kept])
                kept += len(chunks[-1])
            if self.total > self._limit and not self.overflowed:
                self.overflowed = True
                if self._on_overflow is not None:
                    self._on_overflow()
        self.kept = b"".join(chunks)
        self._pipe.close()

    def join(self, deadline: float) -> bool:
        """Wait until the pipe is closed, at most until *deadline* (``time.monotonic``)."""
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()


def _stop(process: subprocess.Popen) -> None:
    """Ask the supervisor to end the check now (it kills the child, then sweeps)."""
    try:
        if os.name == "posix":
            process.send_signal(signal.SIGTERM)
        else:
            process.kill()
    except OSError:
        pass


def _kill(process: subprocess.Popen) -> None:
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except OSError:
        pass


def _sweep_marked(token: str) -> None:
    """Kill any process still carrying this run's marker (its supervisor may be gone)."""
    if not os.path.isdir("/proc"):
        return
    needle = f"{MARKER}={token}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                marked = needle in environ.read().split(b"\0")
        except OSError:
            continue
        if marked:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


def _interpret(report: ChildReport, returncode: Optional[int], output: _Drain, limits: Limits,
               finished: bool, killed_from_outside: bool) -> Run:
    run = Run(report)
    if output.overflowed:
        run.failure = (f"打印了太多内容（超过 {limits.output_bytes // 1_000_000} MB），"
                       "检查被中断；请删掉循环里的 print")
    elif report.malformed:
        run.failure = f"检查进程的报告无法读取（{report.malformed}）：可能是你的代码写坏了它"
    elif killed_from_outside:
        # Whether a report got out before the kill is a race, so it never
        # counts: the same file always gets the same score.
        run.failure = "评分用的监督进程被终止了：你的代码不能结束或干扰评分用的进程"
    elif report.ok is not None:
        return run
    elif returncode == TIMED_OUT or not finished:
        if not report.imported:
            run.failure = (f"导入你的文件超过了 {limits.wall_seconds:g} 秒仍未完成："
                           "模块顶层可能有死循环或耗时操作")
        else:
            run.failure = f"检查运行超过 {limits.wall_seconds:g} 秒仍未结束：程序卡住了（死循环或死锁）"
    elif returncode is not None and (returncode < 0 or returncode > 128):
        number = -returncode if returncode < 0 else returncode - 128
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else number
        run.failure = f"进程被系统信号 {name} 终止：可能用了太多内存或输出"
    else:
        run.failure = (f"进程在检查完成前退出了（退出码 {returncode}）："
                       "可能调用了 os._exit()，或解释器崩溃")
    return run
