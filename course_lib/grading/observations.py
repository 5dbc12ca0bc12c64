"""What a check's child process reports, and how the grader reads it.

The child writes JSON lines to its report channel: ``{"stage": "imported"}``
once the submission is loaded, then one ``{"result": ...}``:
``{"ok": true, "observations": {...}}`` when the scenario ran, or
``{"ok": false, "reason": "..."}`` when the learner's code made it
impossible (it raised, or returned something unusable), plus ``"notes"``
and ``"modules"`` (the course_lib modules that were loaded: the grader
notes a submission that used the finished solutions).

The channel is reachable by the submission, so nothing in it is trusted:
`parse_report` takes a size-bounded byte string and returns a `ChildReport`
whose fields have the right types, or says what is wrong.  A report can only
ever make a check *fail* by itself; passing takes observations that the
grader's judge accepts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

__all__ = ["ChildReport", "jsonable", "parse_report"]

MAX_NOTES = 20
MAX_MODULES = 500
MAX_TEXT = 500
MAX_DEPTH = 12


def jsonable(value: Any, depth: int = 0) -> Any:
    """*value* as plain JSON data: enums by value, unknown objects by ``str``."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(key): jsonable(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [jsonable(item, depth + 1) for item in items]
    return str(value)[:MAX_TEXT]


@dataclass
class ChildReport:
    imported: bool = False
    ok: Optional[bool] = None  # None: no result line
    observations: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)  # course_lib modules the child saw loaded
    malformed: str = ""  # why the report cannot be read, if it cannot


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def parse_report(data: bytes, truncated: bool = False) -> ChildReport:
    """Read the child's report channel (at most the bytes the grader kept)."""
    report = ChildReport()
    if truncated:
        report.malformed = "报告太长"
        return report
    results = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nested a million deep
            report.malformed = "报告里有不是 JSON 的内容"
            return report
        if not isinstance(record, dict):
            report.malformed = "报告的格式不对"
            return report
        if record.get("stage") == "imported":
            report.imported = True
        if "result" in record:
            results.append(record)
    if len(results) > 1:
        report.malformed = "报告里有不止一个结果"
        return report
    if not results:
        return report
    record, result = results[0], results[0]["result"]
    notes, modules = record.get("notes", []), record.get("modules", [])
    if not isinstance(result, dict) or not isinstance(result.get("ok"), bool) \
            or not _strings(notes) or not _strings(modules):
        report.malformed = "结果的格式不对"
        return report
    report.notes = [note[:MAX_TEXT] for note in notes[:MAX_NOTES]]
    report.modules = [name[:MAX_TEXT] for name in modules[:MAX_MODULES]]
    report.ok = result["ok"]
    if report.ok:
        observations = result.get("observations", {})
        if not isinstance(observations, dict):
            report.malformed = "观测数据的格式不对"
        report.observations = observations if isinstance(observations, dict) else {}
    else:
        reason = result.get("reason")
        report.reason = reason[:MAX_TEXT * 2] if isinstance(reason, str) else "（没有说明原因）"
    return report
