"""The grading rubric: criteria, their checks, and the report they add up to.

The criteria and weights are the chapter's; the checks under each criterion
are ours.  Criterion names, check names and reasons are Chinese (they are
read by learners and instructors); keys are English (read by programs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckFailed", "Check", "Criterion", "CheckResult", "CriterionResult", "Report"]


class CheckFailed(Exception):
    """Raised by a check with a concrete, learner-readable reason (in Chinese)."""


@dataclass(frozen=True)
class Check:
    key: str
    name: str  # what is checked, in Chinese
    points: int
    run: Callable[[Any], None]  # gets the submission module; raises CheckFailed


@dataclass(frozen=True)
class Criterion:
    key: str
    name: str
    checks: tuple[Check, ...]

    @property
    def max(self) -> int:
        return sum(check.points for check in self.checks)


@dataclass
class CheckResult:
    name: str
    passed: bool
    points: int
    max: int
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "points": self.points,
                "max": self.max, "reason": self.reason}


@dataclass
class CriterionResult:
    key: str
    name: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(c.points for c in self.checks)

    @property
    def max(self) -> int:
        return sum(c.max for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "points": self.points, "max": self.max,
                "checks": [c.as_dict() for c in self.checks]}


@dataclass
class Report:
    challenge: int
    submission: str
    criteria: list[CriterionResult] = field(default_factory=list)
    error: str = ""  # why it could not be graded at all (no file, unknown challenge)

    @property
    def total(self) -> int:
        return sum(c.points for c in self.criteria)

    @property
    def max(self) -> int:
        return sum(c.max for c in self.criteria)

    def as_dict(self) -> dict[str, Any]:
        return {"challenge": self.challenge, "total": self.total, "max": self.max,
                "criteria": [c.as_dict() for c in self.criteria]}

    def text(self) -> str:
        """The report for people, in Chinese."""
        if self.error:
            return f"无法评分：{self.error}"
        lines = [f"挑战 {self.challenge} 评分报告：{self.submission}", ""]
        for criterion in self.criteria:
            lines.append(f"【{criterion.name}】 {criterion.points} / {criterion.max} 分")
            for check in criterion.checks:
                mark = "✔" if check.passed else "✘"
                lines.append(f"  {mark} {check.name}（{check.points}/{check.max}）")
                if not check.passed:
                    lines.append(f"      原因：{check.reason}")
        lines += ["", f"总分：{self.total} / {self.max}"]
        return "\n".join(lines)
