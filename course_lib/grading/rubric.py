"""The grading rubric: criteria, their checks, and the report they add up to.

The criteria and weights are the chapter's; the checks under each criterion
(and how a criterion's points are split between them) are ours.  Criterion
names, check names and reasons are Chinese (they are read by learners and
instructors); keys are English (read by programs).
"""

from __future__ import annotations

import random
from collections import Counter
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
    todo: str = ""  # what to build first for it, from the contract (shown while it scores nothing)

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
    todo: str = ""

    @property
    def points(self) -> int:
        return sum(c.points for c in self.checks)

    @property
    def max(self) -> int:
        return sum(c.max for c in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.name, "points": self.points, "max": self.max,
                "checks": [c.as_dict() for c in self.checks], **({"todo": self.todo} if self.todo else {})}


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

    def common_reason(self) -> str:
        """The reason most failed checks share (an import error, run() returning None), or "".

        "Most" is at least three checks and at least half of the failed ones.
        """
        reasons = [check.reason for criterion in self.criteria for check in criterion.checks
                   if not check.passed]
        if not reasons:
            return ""
        reason, count = Counter(reasons).most_common(1)[0]
        return reason if count >= 3 and 2 * count >= len(reasons) else ""

    @staticmethod
    def reasons_to_show(criterion: CriterionResult, common: str) -> list[str]:
        """Per check of *criterion*, its reason, or "" where it passed or the reason was said already."""
        said, shown = {common, ""}, []
        for check in criterion.checks:
            reason = "" if check.passed or check.reason in said else check.reason
            said.add(check.reason)
            shown.append(reason)
        return shown

    def text(self) -> str:
        """The report for people, in Chinese: a to-do list more than a list of symptoms.

        A reason shared by most failed checks is said once, at the top; a
        criterion that scores nothing yet says what to build first; within a
        criterion a reason is not repeated.
        """
        if self.error:
            return f"无法评分：{self.error}"
        lines = [f"挑战 {self.challenge} 评分报告：{self.submission}", ""]
        common = self.common_reason()
        if common:
            lines += ["大部分没通过的检查都卡在同一个问题上：", *_indented(common, "  "), ""]
        for criterion in self.criteria:
            lines.append(f"【{criterion.name}】 {criterion.points} / {criterion.max} 分")
            if criterion.points == 0 and criterion.todo:
                lines.append(f"  下一步：{criterion.todo}")
            for check, reason in zip(criterion.checks, self.reasons_to_show(criterion, common)):
                mark = "✔" if check.passed else "✘"
                lines.append(f"  {mark} {check.name}（{check.points}/{check.max}）")
                if reason:
                    lines += _indented(reason, "      原因：", "        ")
        lines += ["", f"总分：{self.total} / {self.max}"]
        if self.notes:
            lines += ["", "注意（不扣分）："] + [f"  - {note}" for note in self.notes]
        return "\n".join(lines)


def _indented(text: str, first: str, rest: str | None = None) -> list[str]:
    """*text*'s lines, the first after *first* and the others after *rest* (a code line and its caret)."""
    head, *tail = text.splitlines() or [""]
    rest = first if rest is None else rest
    return [first + head, *(rest + line for line in tail)]
