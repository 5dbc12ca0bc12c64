"""Challenge 1: the smart async task scheduler."""

from ._calls import TaskSignatureError
from .core import AbandonedThreadsError, SmartScheduler
from .progress import format_progress
from .task import (
    Attempt,
    DependencyFailedError,
    Task,
    TaskCancelledError,
    TaskEvent,
    TaskStatus,
)

__all__ = [
    "AbandonedThreadsError",
    "Attempt",
    "DependencyFailedError",
    "SmartScheduler",
    "Task",
    "TaskCancelledError",
    "TaskEvent",
    "TaskSignatureError",
    "TaskStatus",
    "format_progress",
]
