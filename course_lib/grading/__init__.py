"""The autograder: ``python -m course_lib.grading exercises/challenge1_scheduler.py``.

The grader draws each check's scenario from a seed, a child process runs the
submission on it (with time, memory, output and process limits) and reports
what happened, and the grader judges: the same submission always gets the
same score, and no submission can write its own verdict.  Names are imported
on first use, so the check processes stay light.
"""

from typing import TYPE_CHECKING

from .._lazy import exports

_WHERE = {"grade_batch": ".grader", "grade_file": ".grader", "CheckFailed": ".rubric",
          "Report": ".rubric", "Limits": ".sandbox", "report_widget": ".view", "show_report": ".view",
          "check_stage": ".view"}

__all__ = sorted(_WHERE)

if TYPE_CHECKING:
    from .grader import grade_batch, grade_file
    from .rubric import CheckFailed, Report
    from .sandbox import Limits
    from .view import check_stage, report_widget, show_report


__getattr__, __dir__ = exports(__name__, _WHERE)
