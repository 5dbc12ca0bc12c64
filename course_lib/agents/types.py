"""The agent system's data types: capabilities, agent and task records, events, errors.

`AgentCapability` and `AgentInfo` keep the chapter's names, fields and
defaults; the fields after them are additions with defaults.  The messages
are in `course_lib.agents.protocol`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from types import TracebackType
from typing import Any, NamedTuple, Optional, Union

from ..errors import PermanentTaskError

__all__ = [
    "AgentCapability",
    "AgentStatus",
    "AgentInfo",
    "TaskState",
    "TaskRecord",
    "EventKind",
    "AgentEvent",
    "InvalidTaskError",
    "TaskDeadlineError",
    "PermanentTaskError",
    "InjectedFault",
    "CoordinatorStoppedError",
    "parse_capability",
]


def loop_time() -> float:
    """The running loop's clock, or `time.monotonic` when no loop runs.

    The chapter's default (``asyncio.get_event_loop().time()``) breaks outside
    a running loop; asyncio's own loops use the monotonic clock too.
    """
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


class AgentCapability(Enum):
    """What an agent can do; a task's ``"type"`` names one."""

    SEARCH = "search"
    CALCULATE = "calculate"
    SUMMARIZE = "summarize"
    TRANSLATE = "translate"

    __hash__ = object.__hash__  # identity hashing: C-fast, as in TaskStatus


def parse_capability(value: Any) -> AgentCapability:
    """Turn ``AgentCapability.SEARCH`` or ``"search"`` into the member, else `InvalidTaskError`."""
    if isinstance(value, AgentCapability):
        return value
    try:
        return AgentCapability(value)
    except (ValueError, TypeError):
        known = ", ".join(c.value for c in AgentCapability)
        raise InvalidTaskError(
            f"{value!r} is not an AgentCapability; use a member or one of: {known}"
        ) from None


class AgentStatus(StrEnum):
    """The coordinator's view of an agent; equal to the chapter's plain strings."""

    IDLE = "idle"  # online, nothing in flight
    BUSY = "busy"  # online, at least one task in flight
    OFFLINE = "offline"  # silent for heartbeat_timeout, or crashed, or unregistered


@dataclass(slots=True)
class AgentInfo:
    """What the coordinator knows about one agent (loop-clock times)."""

    id: str
    capabilities: set[AgentCapability]
    status: str = AgentStatus.IDLE  # idle, busy, offline
    tasks_completed: int = 0
    last_heartbeat: float = field(default_factory=loop_time)
    # Additions to the chapter's fields.
    capacity: int = 1  # tasks it runs at once
    in_flight: dict[str, int] = field(default_factory=dict)  # task id -> attempt
    tasks_assigned: int = 0  # attempts sent to it
    tasks_failed: int = 0  # attempts that raised on it
    incarnation: str = ""  # which run of the agent registered last

    @property
    def load(self) -> float:
        """In-flight tasks per unit of capacity: 0.0 idle, 1.0 full."""
        return len(self.in_flight) / self.capacity


class TaskState(Enum):
    """Where a task is.  COMPLETED and FAILED are final and happen exactly once."""

    QUEUED = "queued"  # waiting for a free agent with the capability
    RUNNING = "running"  # an attempt was sent to an agent
    COMPLETED = "completed"
    FAILED = "failed"

    __hash__ = object.__hash__


Route = Union[AgentCapability, str]  # a capability, or the id of the one agent allowed


@dataclass(slots=True, eq=False)
class TaskRecord:
    """The coordinator's record of one task (``coordinator.tasks[task_id]``)."""

    id: str
    task: Mapping[str, Any]
    capability: AgentCapability
    submitted_at: float
    max_attempts: int
    agent_only: Optional[str] = None  # run only on this agent
    deadline: Optional[float] = None  # loop-clock time by which it must finish
    timeout: Optional[float] = None  # seconds one attempt may take
    reply_to: Optional[str] = None  # the agent that asked for it with request()
    state: TaskState = TaskState.QUEUED
    agent: Optional[str] = None  # agent of the current or last attempt
    attempt: int = 0  # attempts started so far
    failures: int = 0  # attempts that raised
    lost: int = 0  # attempts lost with their agent (it crashed, restarted or went silent)
    result: Any = None
    error: Optional[BaseException] = None
    # the error's traceback when the task failed: each raise starts from it again
    error_traceback: Optional[TracebackType] = field(default=None, repr=False, compare=False)
    started_at: Optional[float] = None  # current attempt
    finished_at: Optional[float] = None
    failed_on: frozenset[str] = field(default=frozenset(), repr=False)  # agents whose attempt raised

    @property
    def route(self) -> Route:
        return self.agent_only or self.capability

    @property
    def done(self) -> bool:
        return self.state is TaskState.COMPLETED or self.state is TaskState.FAILED


class EventKind(Enum):
    """What an `AgentEvent` records."""

    TASK = "task"  # a task changed state; old/new are TaskState
    AGENT = "agent"  # an agent changed status; old/new are AgentStatus (None: not registered)
    HEARTBEAT = "heartbeat"
    CRASH = "crash"  # fault injection: agent.crash(), or its loop died
    PAUSE = "pause"  # fault injection: agent.pause(seconds) began
    RESUME = "resume"  # ... and ended
    IGNORED = "ignored"  # a late, duplicate or malformed message was dropped
    BUS = "bus"  # the message bus lost or regained its connection


class AgentEvent(NamedTuple):
    """One thing that happened in the agent system, at loop-clock ``time``.

    Task events carry the task, the agent of the attempt and the attempt
    number; a RUNNING event of attempt 2 or later names in ``from_agent`` the
    agent of the attempt before (a reassignment or a retry).  Agent events
    have no task.  ``reason`` says why in words.
    """

    time: float
    kind: EventKind
    task_id: Optional[str] = None
    agent_id: Optional[str] = None
    old: Optional[Enum] = None
    new: Optional[Enum] = None
    attempt: int = 0
    from_agent: Optional[str] = None
    reason: str = ""


class InvalidTaskError(PermanentTaskError, ValueError):
    """A task that can never run: bad ``type``, unknown agent (or one that was
    unregistered while the task waited for it), bad option."""


class TaskDeadlineError(TimeoutError):
    """A task did not finish by its deadline."""


class TaskTimeoutError(TimeoutError):
    """An attempt ran longer than its task's ``timeout`` (``process_task`` hung
    or was too slow while its agent lived on): a failed attempt."""


ERROR_SUMMARY_LIMIT = 300  # characters of an error that an event keeps


def error_summary(error: BaseException) -> str:
    """``"Type: message"``, cut to ERROR_SUMMARY_LIMIT characters: what an event
    keeps of an error (the error itself stays on the task record, once), so a
    huge message retried many times is not copied into every event."""
    message = str(error)
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    if len(text) > ERROR_SUMMARY_LIMIT:
        text = text[:ERROR_SUMMARY_LIMIT - 1] + "…"
    return text


class TaskLostError(RuntimeError):
    """A task was running on an agent that died (crashed, restarted, went
    silent) too many times: it may be what kills them, so it is not sent again."""


class InjectedFault(RuntimeError):
    """The failure ``agent.fail_next(n)`` makes an agent raise."""


class TaskCancelledError(RuntimeError):
    """``process_task`` ended in a `CancelledError` that nobody asked for (it
    awaited a future that other code cancelled, say): a failed attempt, since
    a CancelledError that reached the caller would look like its own cancellation."""


class CoordinatorStoppedError(RuntimeError):
    """The coordinator stopped before the task finished."""
