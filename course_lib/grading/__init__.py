"""The autograder: ``python -m course_lib.grading exercises/challenge1_scheduler.py``.

Each check runs in its own subprocess with wall-clock, memory and output
limits (isolation, not a security sandbox), on the virtual clock, so the
same submission always gets the same score.
"""

from .grader import grade_batch, grade_file
from .rubric import CheckFailed, Report
from .sandbox import Limits
from .view import report_widget, show_report

__all__ = [
    "CheckFailed", "Limits", "Report", "grade_batch", "grade_file", "report_widget", "show_report",
]
