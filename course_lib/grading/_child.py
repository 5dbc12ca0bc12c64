"""Subprocess side of `sandbox.run_check`: load the submission, run one check.

Writes JSON lines to the result file: ``{"stage": "imported"}`` once the
submission is loaded, then ``{"passed": ..., "reason": ...}``.  Exits with
``os._exit`` so threads a submission left behind cannot keep it alive.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from .rubric import CheckFailed
from .submissions import IMPORT_ONLY, find_check


def _limit(memory_mb: int, output_bytes: int) -> None:
    try:
        import resource
    except ImportError:  # Windows: only the wall-clock limit applies
        return
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # The output file may grow a little past the limit so the parent can tell.
    size = output_bytes + 64 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def _load(path: Path) -> Any:
    sys.path.insert(0, str(path.parent))
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
    if isinstance(exc, RecursionError):
        return f"{when}递归太深（RecursionError）{_where(exc, path)}"
    message = str(exc)
    if len(message) > 300:
        message = message[:300] + "…"
    return f"{when}出错：{type(exc).__name__}: {message}{_where(exc, path)}"


def main(argv: list[str]) -> None:
    submission, challenge, check_key, result_path, memory_mb, output_bytes = argv
    path = Path(submission).resolve()
    _limit(int(memory_mb), int(output_bytes))
    results = open(result_path, "a", encoding="utf-8")

    def write(record: dict) -> None:
        results.write(json.dumps(record, ensure_ascii=False) + "\n")
        results.flush()

    check = None if check_key == IMPORT_ONLY else find_check(int(challenge), check_key)
    try:
        module = _load(path)
    except BaseException as exc:  # noqa: BLE001 - a submission may raise anything
        write({"passed": False, "reason": _describe(exc, path, "导入你的文件时")})
        os._exit(0)
    write({"stage": "imported"})
    if check is None:
        write({"passed": True, "reason": ""})
        os._exit(0)
    try:
        check.run(module)
    except CheckFailed as failure:
        write({"passed": False, "reason": str(failure)})
    except BaseException as exc:  # noqa: BLE001
        write({"passed": False, "reason": _describe(exc, path, "运行检查时")})
    else:
        write({"passed": True, "reason": ""})
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
