"""The task book: every task the coordinator was given, from submission to its one ending.

`TaskBook` owns the `TaskRecord` of each task and is the only code that
changes a task's state:

    submit -> QUEUED -> start_attempt -> RUNNING -> requeue -> QUEUED -> ...
                                                 -> finish  -> COMPLETED | FAILED

`finish` is the only way a task ends, and it ends a task once: a second call
for a finished task changes nothing and returns False.  Each change is an
`AgentEvent` (built with keywords) handed to ``emit``.  The book also keeps
the waiting room (`TaskQueue`), the deadlines (a heap, so the earliest is
known at once), and the waiters of `wait` (one future per waiting call,
resolved when the last of its tasks ends: nothing polls).

Example use (the coordinator does this)::

    book = TaskBook(emit=hub.emit, default_attempts=3)
    record = book.submit({"type": "search"}, capability=SEARCH, now=0.0)
    book.start_attempt(record, "search-1", now=0.0)
    book.finish(record, TaskState.COMPLETED, now=1.0, result="…")
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from heapq import heappop, heappush
from typing import Any, Optional

from ..i18n import Reason
from .codec import as_json_data, decode_error, encode_error
from .taskqueue import TaskQueue
from .types import AgentEvent, AgentInfo, AgentCapability, EventKind, InvalidTaskError, \
    TaskRecord, TaskState, error_summary, parse_capability

__all__ = ["TaskBook", "TaskStore", "check_attempts", "check_task", "check_timeout",
           "check_wire_task"]

QUEUED, RUNNING = TaskState.QUEUED, TaskState.RUNNING
COMPLETED, FAILED = TaskState.COMPLETED, TaskState.FAILED
TASK = EventKind.TASK


def check_attempts(max_attempts: Any) -> None:
    if type(max_attempts) is not int or max_attempts < 1:
        raise ValueError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")


def check_timeout(timeout: Any) -> None:
    if timeout is not None and not (type(timeout) in (int, float) and 0 < timeout < math.inf):
        raise InvalidTaskError(f"timeout must be a positive number of seconds, got {timeout!r}")


def check_task(task: Any, agent: Optional[AgentInfo], agent_id: Optional[str],
               deadline: Any, timeout: Any = None) -> AgentCapability:
    """The capability *task* needs; `InvalidTaskError` if it can never run.

    *agent* is the one agent allowed (``agent_id``), None when any may run it.
    """
    if type(task) is not dict and not isinstance(task, Mapping):
        raise InvalidTaskError(f"a task must be a dict, got {type(task).__name__}")
    if agent_id is not None and agent is None:
        raise InvalidTaskError(f"no agent {agent_id!r} is registered")
    if "type" in task:
        capability = parse_capability(task["type"])
    elif agent is not None and len(agent.capabilities) == 1:
        (capability,) = agent.capabilities
    else:
        raise InvalidTaskError(
            "a task needs a 'type' naming an AgentCapability, "
            f"e.g. {{'type': AgentCapability.SEARCH, ...}}; got keys {sorted(map(str, task))}"
        )
    if agent is not None and capability not in agent.capabilities:
        raise InvalidTaskError(f"agent {agent_id!r} has no {capability.value!r} capability")
    if deadline is not None and not (type(deadline) in (int, float) and deadline > 0):
        raise InvalidTaskError(f"deadline must be a positive number of seconds, got {deadline!r}")
    check_timeout(timeout)
    return capability


def check_wire_task(task: Mapping[str, Any]) -> None:
    """`InvalidTaskError` unless *task* can go over a wire as JSON."""
    try:
        as_json_data(dict(task))
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidTaskError(
            "a task may hold only JSON data (dicts, lists, strings, numbers, True, False, "
            f"None), because this bus sends it to another process: {exc}") from None


class TaskStore(ABC):
    """Where a coordinator keeps its task records, so that a restarted one resumes them.

    Rows are plain JSON data (see `TaskBook.row`).  `save` is called with
    each new task before its id is returned, and with each task that ended
    before the message that ended it is acknowledged.
    """

    @abstractmethod
    async def load(self) -> list[dict[str, Any]]:
        """Every row saved so far, in the order the tasks were first saved."""

    @abstractmethod
    async def save(self, rows: list[dict[str, Any]]) -> None:
        """Save *rows* (a row with a known id replaces it; a finished one is final)."""


class TaskBook:
    """Task records, their states, the waiting room, deadlines and waiters (see the module docstring).

    ``emit`` gets every task event; ``on_finish(record)`` is called once per
    task, after it ended (the coordinator answers the agent that asked).
    """

    def __init__(self, *, emit: Callable[[AgentEvent], Any], default_attempts: int,
                 on_finish: Optional[Callable[[TaskRecord], Any]] = None) -> None:
        self.tasks: dict[str, TaskRecord] = {}
        self.results: dict[str, Any] = {}
        self.failures: dict[str, BaseException] = {}
        self.queue = TaskQueue()
        self.counts = dict.fromkeys(TaskState, 0)
        self.latencies: list[float] = []  # submit -> completed, per completed task
        self.default_attempts = default_attempts
        self._emit = emit
        self._on_finish = on_finish
        self._ids = itertools.count(1)
        self._deadlines: list[tuple[float, str, TaskRecord]] = []  # heap
        self._attempt_ends: list[tuple[float, str, int, TaskRecord]] = []  # heap, with timeouts
        self._waiters: dict[str, list[_Countdown]] = {}  # task id -> waits that include it
        # Records submitted or ended since the last save, when a TaskStore keeps them.
        self.unsaved: Optional[dict[str, TaskRecord]] = None

    # ------------------------------------------------------- submitting

    def submit(self, task: Mapping[str, Any], *, capability: AgentCapability, now: float,
               task_id: Optional[str] = None, agent: Optional[str] = None,
               deadline: Optional[float] = None, max_attempts: Optional[int] = None,
               reply_to: Optional[str] = None, timeout: Optional[float] = None) -> TaskRecord:
        """Record a new QUEUED task (checked already by `check_task`) and queue it."""
        if task_id is None:
            task_id = f"task-{next(self._ids)}"
            while task_id in self.tasks:  # ids given by agents' requests can look alike
                task_id = f"task-{next(self._ids)}"
        elif task_id in self.tasks:
            raise InvalidTaskError(f"duplicate task id {task_id!r}")
        record = TaskRecord(
            id=task_id, task=task, capability=capability, submitted_at=now,
            max_attempts=max_attempts or self.default_attempts, agent_only=agent,
            deadline=None if deadline is None else now + deadline, reply_to=reply_to,
            timeout=timeout,
        )
        self.tasks[task_id] = record
        if self.unsaved is not None:
            self.unsaved[task_id] = record
        self.counts[QUEUED] += 1
        self._emit(AgentEvent(time=now, kind=TASK, task_id=task_id, agent_id=agent, new=QUEUED))
        self.queue.put(record)
        if record.deadline is not None:
            heappush(self._deadlines, (record.deadline, task_id, record))
        return record

    # ------------------------------------------------------ transitions

    def start_attempt(self, record: TaskRecord, agent_id: str, now: float) -> int:
        """QUEUED -> RUNNING on *agent_id* (taken off the queue already); the attempt number."""
        previous = record.agent
        record.attempt += 1
        record.state = RUNNING
        record.agent = agent_id
        record.started_at = now
        if record.timeout is not None:
            heappush(self._attempt_ends, (now + record.timeout, record.id, record.attempt, record))
        self.counts[QUEUED] -= 1
        self.counts[RUNNING] += 1
        self._emit(AgentEvent(time=now, kind=TASK, task_id=record.id, agent_id=agent_id,
                              old=QUEUED, new=RUNNING, attempt=record.attempt,
                              from_agent=previous))
        return record.attempt

    def requeue(self, records: list[TaskRecord], reason: Reason, now: float) -> None:
        """Running tasks go back to the front of their queues, keeping their order."""
        for record in records:
            record.state = QUEUED
            self.counts[RUNNING] -= 1
            self.counts[QUEUED] += 1
            self._emit(AgentEvent(time=now, kind=TASK, task_id=record.id, agent_id=record.agent,
                                  old=RUNNING, new=QUEUED, attempt=record.attempt, reason=reason))
        for record in reversed(records):
            self.queue.put(record, front=True)

    def finish(self, record: TaskRecord, state: TaskState, now: float,
               result: Any = None, error: Optional[BaseException] = None) -> bool:
        """End *record* COMPLETED or FAILED; False (and nothing changes) if it had ended."""
        if record.done:
            return False
        old = record.state
        self.counts[old] -= 1
        self.counts[state] += 1
        record.state = state
        if old is QUEUED:
            self.queue.discard(record)
        record.finished_at = now
        if self.unsaved is not None:
            self.unsaved[record.id] = record
        if state is COMPLETED:
            record.result = self.results[record.id] = result
            self.latencies.append(now - record.submitted_at)
        else:
            record.error = self.failures[record.id] = error
            record.error_traceback = error.__traceback__
        self._emit(AgentEvent(time=now, kind=TASK, task_id=record.id, agent_id=record.agent,
                              old=old, new=state, attempt=record.attempt,
                              reason="" if error is None else error_summary(error)))
        for countdown in self._waiters.pop(record.id, ()):
            countdown.tick()
        if self._on_finish is not None:
            self._on_finish(record)
        return True

    # ------------------------------------------------------ persistence

    @staticmethod
    def row(record: TaskRecord, now: float, wall_now: Optional[float] = None) -> dict[str, Any]:
        """*record* as plain JSON data, at loop time *now*.

        Loop-clock times mean nothing to another process, so the deadline is
        kept as a wall-clock time (*wall_now* is `time.time()` unless given):
        the time a coordinator was down counts against it.
        """
        if wall_now is None:
            wall_now = time.time()
        return as_json_data({
            "id": record.id, "task": dict(record.task), "capability": record.capability,
            "max_attempts": record.max_attempts, "agent_only": record.agent_only,
            "deadline_at": None if record.deadline is None
            else wall_now + (record.deadline - now),
            "reply_to": record.reply_to, "timeout": record.timeout, "state": record.state,
            "attempt": record.attempt,
            "failures": record.failures, "lost": record.lost, "failed_on": sorted(record.failed_on),
            "result": record.result if record.state is COMPLETED else None,
            "error": encode_error(record.error) if record.state is FAILED else None,
        })

    def restore(self, rows: Iterable[dict[str, Any]], now: float,
                wall_now: Optional[float] = None) -> int:
        """Take back the saved *rows* (a restarted coordinator) at loop time *now*;
        unfinished tasks wait in the queue again.  Returns how many are unfinished."""
        if wall_now is None:
            wall_now = time.time()
        resumed = 0
        for row in rows:
            state = TaskState(row["state"])
            record = TaskRecord(
                id=row["id"], task=row["task"], capability=parse_capability(row["capability"]),
                submitted_at=now, max_attempts=row["max_attempts"], agent_only=row["agent_only"],
                deadline=None if row["deadline_at"] is None
                else now + max(0.0, row["deadline_at"] - wall_now),
                reply_to=row["reply_to"], attempt=row["attempt"], failures=row["failures"],
                lost=row.get("lost", 0), timeout=row.get("timeout"),
                failed_on=frozenset(row["failed_on"]),
            )
            self.tasks[record.id] = record
            if state is COMPLETED or state is FAILED:
                record.state, record.finished_at = state, now
                self.counts[state] += 1
                if state is COMPLETED:
                    record.result = self.results[record.id] = row["result"]
                else:
                    record.error = self.failures[record.id] = decode_error(row["error"])
                continue
            resumed += 1
            self.counts[QUEUED] += 1
            self.queue.put(record)
            if record.deadline is not None:
                heappush(self._deadlines, (record.deadline, record.id, record))
            self._emit(AgentEvent(time=now, kind=TASK, task_id=record.id, new=QUEUED,
                                  attempt=record.attempt,
                                  reason=Reason("resumed after a coordinator restart")))
        return resumed

    # -------------------------------------------------------- deadlines

    def expired(self, now: float) -> list[TaskRecord]:
        """Unfinished tasks whose deadline is *now* or earlier (taken off the heap)."""
        heap, due = self._deadlines, []
        while heap and heap[0][0] <= now:
            record = heappop(heap)[2]
            if not record.done:
                due.append(record)
        return due

    def overdue(self, now: float) -> list[TaskRecord]:
        """Running tasks whose current attempt has run out of time by *now*."""
        heap, due = self._attempt_ends, []
        while heap and heap[0][0] <= now:
            _, _, attempt, record = heappop(heap)
            if record.state is RUNNING and record.attempt == attempt:
                due.append(record)
        return due

    def next_deadline(self) -> Optional[float]:
        """The earliest task deadline or attempt timeout still to come."""
        heap = self._deadlines
        while heap and heap[0][2].done:
            heappop(heap)
        ends = self._attempt_ends
        while ends and (ends[0][3].state is not RUNNING or ends[0][3].attempt != ends[0][2]):
            heappop(ends)
        return min((h[0][0] for h in (heap, ends) if h), default=None)

    # ---------------------------------------------------------- waiting

    def get(self, task_id: str) -> TaskRecord:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise KeyError(f"unknown task id {task_id!r}") from None

    async def wait(self, records: Iterable[TaskRecord], timeout: Optional[float] = None) -> None:
        """Return once all of *records* have ended: one wake-up for all of them."""
        records = [record for record in records if not record.done]
        if not records:
            return
        countdown = _Countdown(asyncio.get_running_loop().create_future(), len(records))
        for record in records:
            self._waiters.setdefault(record.id, []).append(countdown)
        try:
            async with asyncio.timeout(timeout):
                await countdown.future
        finally:
            for record in records:  # timeout or cancellation: leave no trace
                waiting = self._waiters.get(record.id)
                if waiting is not None and countdown in waiting:
                    waiting.remove(countdown)
                    if not waiting:
                        del self._waiters[record.id]


class _Countdown:
    """A future resolved when *left* tasks have ended."""

    __slots__ = ("future", "left")

    def __init__(self, future: asyncio.Future, left: int) -> None:
        self.future = future
        self.left = left

    def tick(self) -> None:
        self.left -= 1
        if not self.left and not self.future.done():
            self.future.set_result(None)
