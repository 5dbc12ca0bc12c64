"""The scheduler's data types: task states, tasks, attempts and events.

`TaskStatus` and `Task` keep the chapter's API (same names, fields and
defaults); the fields after ``completed_at`` are additions with defaults, so
``Task(id=..., func=...)`` written for the chapter still works.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, NamedTuple, Optional

__all__ = [
    "TaskStatus",
    "Task",
    "Attempt",
    "TaskEvent",
    "TaskCancelledError",
    "DependencyFailedError",
    "TERMINAL",
]


class TaskStatus(Enum):
    """Where a task is in its life.  Exactly one of the last four is final."""

    PENDING = "pending"  # ready (or backing off), waiting for a worker slot
    WAITING = "waiting"  # waiting for its dependencies to complete
    RUNNING = "running"  # an attempt is executing in a worker slot
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"

    # Members are singletons compared by identity, so identity hashing is
    # consistent with equality, and it is C-fast: Enum's default hashes the
    # name in Python, which showed up in the scheduler's profile.
    __hash__ = object.__hash__

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED}
)


class TaskCancelledError(Exception):
    """Stored in `Task.error` when a task ends CANCELLED."""


class DependencyFailedError(TaskCancelledError):
    """A task was cancelled because a task it depends on did not complete."""

    def __init__(
        self, task_id: str, upstream: str, upstream_status: TaskStatus, root: str | None = None
    ) -> None:
        self.task_id = task_id
        self.upstream = upstream
        self.upstream_status = upstream_status
        self.root = root or upstream  # the task whose failure started the cascade
        why = f" (the chain started at {self.root!r})" if self.root != upstream else ""
        super().__init__(
            f"task {task_id!r} was cancelled because its dependency {upstream!r} "
            f"ended {upstream_status.value}{why}"
        )


@dataclass(slots=True)
class Attempt:
    """One execution of a task's callable in a worker slot (loop-clock times)."""

    number: int  # 1 for the first try, 2 for the first retry, ...
    slot: int
    start: float
    end: Optional[float] = None
    outcome: Optional[TaskStatus] = None  # COMPLETED, FAILED, TIMEOUT or CANCELLED
    error: Optional[BaseException] = None
    backoff: Optional[float] = None  # delay before the next attempt, if one follows
    # A sync callable runs in a thread, and a timeout cannot stop a thread: the
    # attempt is given up on while the thread goes on running in the background.
    abandoned: bool = False

    @property
    def duration(self) -> Optional[float]:
        return None if self.end is None else self.end - self.start


@dataclass
class Task:
    """A unit of work for `SmartScheduler`.

    Example use::

        Task(id="fetch", func=fetch_page, args=("https://example.org",),
             priority=0, timeout=5.0, max_retries=2)

    ``priority``: a lower number runs first.  ``dependencies``: ids of tasks
    whose results this one needs; a set passes them in sorted id order, a list
    or tuple in the given order.  ``timeout`` applies to each attempt
    (``None`` for no limit).  See `SmartScheduler` for the full rules.
    """

    id: str
    func: Callable[..., Any]
    args: tuple = field(default_factory=tuple)
    kwargs: dict = field(default_factory=dict)
    priority: int = 1
    dependencies: Collection[str] = field(default_factory=set)
    timeout: Optional[float] = 30.0
    max_retries: int = 3
    retry_delay: float = 1.0

    status: TaskStatus = TaskStatus.PENDING
    result: Any = None
    error: Optional[Exception] = None
    retries: int = 0
    created_at: datetime = field(default_factory=datetime.now)
    started_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None

    # Additions to the chapter's fields.
    retry_on_timeout: bool = True
    retry_if: Optional[Callable[[BaseException], bool]] = None
    attempts: list[Attempt] = field(default_factory=list, repr=False)

    def __lt__(self, other: Task) -> bool:
        return self.priority < other.priority


class TaskEvent(NamedTuple):
    """One state change of one task: the scheduler's single source of truth.

    ``time`` is the event loop's clock.  ``old`` is ``None`` when the task is
    added.  ``attempt`` is the attempt the change belongs to (0 before the
    first).  ``retry_at`` is set when a failed attempt goes into backoff
    (RUNNING -> PENDING): the task re-enters the ready queue at that time.
    ``outcome`` says how an attempt ended (COMPLETED, FAILED, TIMEOUT or
    CANCELLED) on every event that leaves RUNNING.  The event that adds a task (``old is None``) also carries its
    ``priority`` and ``dependencies``, so a recorded event list alone is
    enough to draw timelines, graphs and statistics.
    """

    time: float
    task_id: str
    old: Optional[TaskStatus]
    new: TaskStatus
    attempt: int = 0
    slot: Optional[int] = None
    reason: str = ""
    retry_at: Optional[float] = None
    outcome: Optional[TaskStatus] = None  # how the attempt ended, on events leaving RUNNING
    priority: Optional[float] = None
    dependencies: tuple[str, ...] = ()
