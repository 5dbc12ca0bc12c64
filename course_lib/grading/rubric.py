"""The grading rubric: criteria, their checks, and the report they add up to.

The criteria and weights are the chapter's; the checks under each criterion
(and how a criterion's points are split between them) are ours.  Criterion
names, check names and reasons are Chinese (they are read by learners and
instructors); keys are English (read by programs).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckFailed", "Check", "Criterion", "CheckResult", "CriterionResult", "Report"]


class CheckFailed(Exception):
    """Raised by a check with a concrete, learner-readable reason (in Chinese)."""


@dataclass(frozen=True)
class Check:
    """One check: a scenario drawn in the grader, run in the child, judged in the grader."""

    key: str
    name: str  # what is checked, in Chinese
    points: int
    scenario: Callable[[random.Random], dict]  # grader: the parameters, from the grading seed
    observe: Callable[[Any, dict], dict]  # child: run the submission module, return what happened
    judge: Callable[[dict, dict], None]  # grader: raise CheckFailed unless the observations are right


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
    notes: list[str] = field(default_factory=list)  # for the instructor; they cost no points

    @property
    def total(self) -> int:
        return sum(c.points for c in self.criteria)

    @property
    def max(self) -> int:
        return sum(c.max for c in self.criteria)

    def as_dict(self) -> dict[str, Any]:
        return {"challenge": self.challenge, "total": self.total, "max": self.max,
                "criteria": [c.as_dict() for c in self.criteria], "notes": list(self.notes),
                **({"error": self.error} if self.error else {})}

    def gradescope(self) -> dict[str, Any]:
        """Gradescope's ``results.json``: the score and one test per check."""
        tests = [{"name": f"{criterion.name}：{check.name}", "score": check.points,
                  "max_score": check.max, "output": "通过" if check.passed else f"原因：{check.reason}"}
                 for criterion in self.criteria for check in criterion.checks]
        output = self.text() if self.error else "\n".join(f"注意：{note}" for note in self.notes)
        return {"score": self.total, "tests": tests, **({"output": output} if output else {})}

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
        if self.notes:
            lines += ["", "注意（不扣分）："] + [f"  - {note}" for note in self.notes]
        return "\n".join(lines)
