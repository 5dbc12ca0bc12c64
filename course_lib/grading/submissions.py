"""Finding submissions, telling which challenge they are, and the check registry."""

from __future__ import annotations

import re
from pathlib import Path

from .rubric import Check, Criterion

__all__ = ["LIBRARY_PARTS", "criteria_for", "find_check", "detect_challenge",
           "library_note", "library_part", "resolve_submission"]

EXPECTED_FILES = {1: "challenge1_scheduler.py", 2: "challenge2_agents.py"}
LIBRARY_PARTS = ("course_lib.scheduler", "course_lib.agents")  # the finished solutions


def library_part(module: str) -> str | None:
    """The finished solution *module* belongs to (``course_lib.agents.bus`` → ``course_lib.agents``)."""
    return next((part for part in LIBRARY_PARTS if module == part or module.startswith(part + ".")),
                None)


def library_note(part: str) -> str:
    """The note for a submission that uses the finished solution *part* (it costs no points)."""
    return f"这份作业导入了课程自带的完整实现 {part}：请确认代码是自己写的"


def criteria_for(challenge: int) -> tuple[Criterion, ...]:
    if challenge == 1:
        from .scheduler_checks import CRITERIA
    elif challenge == 2:
        from .agent_checks import CRITERIA
    else:
        raise ValueError(f"challenge must be 1 or 2, got {challenge!r}")
    return CRITERIA


def find_check(challenge: int, key: str) -> Check:
    for criterion in criteria_for(challenge):
        for check in criterion.checks:
            if f"{criterion.key}.{check.key}" == key:
                return check
    raise KeyError(f"no check {key!r} in challenge {challenge}")


def detect_challenge(path: Path) -> int:
    """1 for a scheduler, 2 for an agent system, from the file's class definitions."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if re.search(r"^class\s+(Coordinator|BaseAgent)\b", text, re.MULTILINE):
        return 2
    if re.search(r"^class\s+SmartScheduler\b", text, re.MULTILINE):
        return 1
    raise ValueError(f"{path}: cannot tell the challenge (no SmartScheduler or Coordinator class); "
                     "pass --challenge 1 or 2")


def resolve_submission(path: Path, challenge: int | None = None) -> Path:
    """The .py file of a submission given as a file or as a learner's folder."""
    path = Path(path).resolve()  # the checks run in a scratch folder
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"no such submission: {path}")
    names = [EXPECTED_FILES[challenge]] if challenge else list(EXPECTED_FILES.values())
    for name in names:
        if (path / name).is_file():
            return path / name
    candidates = sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    if len(candidates) == 1:
        return candidates[0]
    raise ValueError(f"{path}: expected {' or '.join(names)} (found {len(candidates)} .py files)")
