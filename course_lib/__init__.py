"""course_lib: the teaching library of the async-programming chapter (6.4).

Public API::

    from course_lib import SmartScheduler, Task, TaskStatus, run_virtual
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
    "run_virtual",
]

__version__ = "0.1.0"
