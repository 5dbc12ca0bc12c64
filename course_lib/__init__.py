"""course_lib: the teaching library of the async-programming chapter (6.4).

Public API::

    from course_lib import SmartScheduler, Task, TaskStatus, run_virtual
    course_lib.set_language("en")   # learner-facing text in English (Chinese by default)
"""

from .scheduler import (
    Attempt,
    DependencyFailedError,
    SmartScheduler,
    Task,
    TaskCancelledError,
    TaskEvent,
    TaskSignatureError,
    TaskStatus,
    format_progress,
)
from .i18n import get_language, set_language
from .vclock import VirtualClockLoop, VirtualClockStall, run_virtual

__all__ = [
    "Attempt",
    "DependencyFailedError",
    "SmartScheduler",
    "Task",
    "TaskCancelledError",
    "TaskEvent",
    "TaskSignatureError",
    "TaskStatus",
    "VirtualClockLoop",
    "VirtualClockStall",
    "format_progress",
    "get_language",
    "run_virtual",
    "set_language",
]

__version__ = "0.1.0"
