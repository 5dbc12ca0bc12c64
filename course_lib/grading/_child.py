"""Subprocess side of `sandbox.run_check`: load the submission, run one scenario.

    python -m course_lib.grading._child SUBMISSION FOLDER CHALLENGE CHECK MEMORY_MB OUTPUT_BYTES

SUBMISSION is the grader's copy of the learner's file; FOLDER is where the
original lives, so the file can import its sibling modules.

The scenario's parameters come on stdin (JSON).  The report goes to the
process's original stdout, which becomes a private channel: fd 1 is then
pointed at stderr, so whatever the submission prints lands in the output
pipe the grader drains and bounds.  The report holds raw observations only
(see observations.py); the grader judges them.  Writes outside the scratch
folder (the working directory; HOME and TMPDIR point there too) are noted
through an audit hook; the course_lib modules loaded are reported, so the
grader can note a submission that used the finished solutions.  Exits with ``os._exit`` so threads a submission
left behind cannot keep it alive.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, TextIO

from .observations import MAX_MODULES, MAX_NOTES, jsonable
from .rubric import CheckFailed
from .submissions import find_check

WRITE_MODES = set("wax+")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
CHANGES = {"os.remove", "os.rename", "os.mkdir", "os.rmdir", "shutil.rmtree", "os.symlink", "os.link",
           "os.truncate"}
MAX_PARAMS = 1_000_000


def _limit(memory_mb: int, output_bytes: int) -> None:
    try:
        import resource
    except ImportError:  # Windows: only the wall-clock limit applies
        return
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (output_bytes, output_bytes))  # files it writes
    processes = _user_processes()
    if processes is not None and os.geteuid() != 0:  # root is not held by RLIMIT_NPROC
        resource.setrlimit(resource.RLIMIT_NPROC, (processes + 32, processes + 32))


def _user_processes() -> int | None:
    """How many processes this user has now (RLIMIT_NPROC counts them all), or None."""
    try:
        return sum(1 for entry in os.listdir("/proc") if entry.isdigit()
                   and os.stat(f"/proc/{entry}").st_uid == os.getuid())
    except OSError:
        return None


def _watch_writes(scratch: Path, notes: list[str]) -> Callable[[str, tuple], None]:
    """An audit hook noting files written, removed or renamed outside *scratch*."""
    inside = (str(scratch), "/dev/", "/proc/self/")

    def outside(path: Any) -> str | None:
        if isinstance(path, int) or path is None:
            return None
        try:
            text = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None
        return None if text.startswith(inside) else text

    def hook(event: str, args: tuple) -> None:
        try:
            if len(notes) >= MAX_NOTES:
                return
            if event == "open":
                path, mode, flags = args
                writes = bool(WRITE_MODES & set(mode or "")) or bool((flags or 0) & WRITE_FLAGS)
                where = outside(path) if writes else None
            elif event in CHANGES:
                where = outside(args[0])
            else:
                return
            if where is not None:
                notes.append(f"在评分用的临时文件夹之外改动了文件：{where}（{event}）")
        except Exception:  # noqa: BLE001 - a hook must never break the submission
            pass

    return hook


def _watch_imports(modules: set[str]) -> Callable[[str, tuple], None]:
    """An audit hook recording the course_lib modules that import statements load."""
    add = modules.add

    def hook(event: str, args: tuple) -> None:
        if event == "import" and str(args[0]).startswith("course_lib.") and len(modules) < MAX_MODULES:
            add(str(args[0]))

    return hook


def _load(path: Path, folder: Path) -> Any:
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("submission", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    return module


def _where(exc: BaseException, path: Path) -> str:
    """The last line of the submission that the traceback went through."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return f"（{path.name} 第 {frames[-1].lineno} 行）" if frames else ""


def _describe(exc: BaseException, path: Path, when: str) -> str:
    if isinstance(exc, SystemExit):
        return f"{when}调用了 sys.exit({exc.code!r})，检查被迫中断"
    if isinstance(exc, MemoryError):
        return f"{when}内存超过上限，可能在无限制地分配内存"
    if isinstance(exc, SyntaxError):
        line = (exc.text or "").rstrip("\n")
        shown = line.lstrip()
        caret = " " * max(0, (exc.offset or 1) - 1 - (len(line) - len(shown))) + "^"
        code = f"\n    {shown}\n    {caret}" if shown else ""
        return f"{when}发现语法错误：{exc.msg}（{Path(exc.filename or path).name} 第 {exc.lineno} 行）{code}"
    if isinstance(exc, RecursionError):
        return f"{when}递归太深（RecursionError）{_where(exc, path)}"
    message = str(exc)
    if len(message) > 300:
        message = message[:300] + "…"
    return f"{when}出错：{type(exc).__name__}: {message}{_where(exc, path)}"


def main(argv: list[str]) -> None:
    submission, folder, challenge, check_key, memory_mb, output_bytes = argv
    path = Path(submission).resolve()
    params = json.loads(sys.stdin.buffer.read(MAX_PARAMS) or b"{}")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    report: TextIO = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the submission's prints go to the output pipe, not the report
    notes: list[str] = []
    sys.dont_write_bytecode = True  # no __pycache__ next to the submission
    sys.addaudithook(_watch_writes(Path.cwd().resolve(), notes))
    modules: set[str] = set()
    sys.addaudithook(_watch_imports(modules))
    loaded, dumps = sys.modules, json.dumps  # taken before the submission can replace them
    _limit(int(memory_mb), int(output_bytes))

    def write(record: dict) -> None:
        report.write(dumps(record, ensure_ascii=False) + "\n")
        report.flush()

    def finish(result: dict) -> None:
        seen = modules | {name for name in list(loaded) if name.startswith("course_lib.")}
        write({"result": result, "notes": notes, "modules": sorted(seen)[:MAX_MODULES]})
        os._exit(0)

    observe = find_check(int(challenge), check_key).observe  # taken before the submission is loaded
    try:
        module = _load(path, Path(folder))
    except BaseException as exc:  # noqa: BLE001 - a submission may raise anything
        finish({"ok": False, "reason": _describe(exc, path, "导入你的文件时")})
    write({"stage": "imported"})
    try:
        observations = jsonable(observe(module, params))
    except CheckFailed as failure:
        finish({"ok": False, "reason": str(failure)})
    except BaseException as exc:  # noqa: BLE001
        finish({"ok": False, "reason": _describe(exc, path, "运行检查时")})
    finish({"ok": True, "observations": observations})


if __name__ == "__main__":
    main(sys.argv[1:])
