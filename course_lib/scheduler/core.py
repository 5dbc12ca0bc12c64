"""SmartScheduler: an event-driven async task scheduler.

Example use::

    scheduler = SmartScheduler(max_workers=3)
    await scheduler.add_task(Task(id="a", func=fetch))
    await scheduler.add_task(Task(id="b", func=parse, dependencies={"a"}))
    results = await scheduler.run()          # {task_id: Task}
    print(results["b"].result, scheduler.get_stats())

The rules
=========

Priority
    A lower ``priority`` runs first; equal priorities run in the order they
    were added (FIFO).  Whenever a worker slot frees, the best *ready* task
    starts next.  ``aging`` (priority levels per second of waiting, 0 = off)
    lets a task that waits long enough overtake newer, more urgent ones, so
    nothing starves.  `why_waiting` explains in words what holds a task back
    (before `run` too: a dependency to wait for, one that is unknown or has
    failed, a cycle).

Event-driven
    Nothing polls.  The scheduler reacts to events: an attempt ended (a done
    callback), a task was added, a backoff timer expired.  `run` only awaits
    a future that the last of those events resolves.

Dependencies
    A task starts only when all of its dependencies are COMPLETED.  Its
    callable gets their results as extra positional arguments after ``args``:
    in sorted id order when ``dependencies`` is a set, in the given order for
    a list or tuple.  A callable that cannot take them is only ordered after
    them.  A callable with a ``dependencies`` keyword parameter gets
    ``{dep_id: result}`` there instead.  `add_task` checks the signature and
    raises `TaskSignatureError` when no call can fit.

Bad numbers and generators
    `add_task` and the constructor refuse a bad number with a `ValueError`
    that names the parameter and the value: NaN, infinities, ints too large
    for a float, and bools (``True`` is not a timeout) are never accepted.
    A task runs to one result, so a generator function or an async generator
    function is refused as ``func`` (`TaskSignatureError`, saying what to
    write instead: collect the items in a list); a sync function found to
    *return* a generator (``lambda: gen()``) fails its attempt the same way,
    without retries.

Failed upstream
    When a dependency ends FAILED, TIMEOUT or CANCELLED, every task that
    depends on it, directly or not, ends CANCELLED at once with a
    `DependencyFailedError` that names the upstream task.  Nothing hangs.

Bad graphs
    An unknown dependency id or a dependency cycle makes `run` raise
    `ValueError` naming the id or the cycle, before anything runs.  A
    duplicate id raises `ValueError` from `add_task`.  Tasks may be added
    while `run` is in progress; they are checked at once.

Concurrency
    At most ``max_workers`` callables execute at once; each attempt holds one
    numbered worker slot, and a retry's backoff holds none.  Slots are made
    as first needed, so memory follows the tasks, not ``max_workers``
    (``sys.maxsize`` is a fine "no limit").  A plain (sync)
    function runs in a thread of its own.  A timeout cannot stop a thread:
    such an attempt is marked ``abandoned`` and its slot is freed while the
    thread runs on in the background until it returns.  Those threads are
    daemon threads, so they never keep a finished program from exiting, and
    at most ``MAX_ABANDONED_THREADS`` (16) of one scheduler may still run at
    once: while that many do, its sync attempts fail at once with
    `AbandonedThreadsError` (retried like any failure) instead of piling up
    more threads.

Timeout
    ``Task.timeout`` applies to each attempt; an attempt still running then is
    cancelled.  A timed-out attempt is retried like a failure unless
    ``Task.retry_on_timeout`` is False.  A task whose last attempt timed out
    ends TIMEOUT.

Failure
    Whatever the callable raises, sync or async, ends the attempt FAILED
    with that exception; a sync function's ``StopIteration`` (which a future
    cannot carry) becomes a ``RuntimeError`` from it, as Python does for
    coroutines.  Three exceptions are not failures: ``CancelledError`` ends
    the task CANCELLED, and ``KeyboardInterrupt`` and ``SystemExit`` stop
    the program, as everywhere in asyncio.

Retry
    At most ``1 + max_retries`` attempts.  Before retry *k* (k = 1, 2, ...)
    the task backs off ``retry_delay * 2**(k-1)`` seconds; with ``jitter`` j
    that is multiplied by a factor drawn uniformly from [1-j, 1+j] by
    ``random.Random(seed)``, and the result is capped at ``backoff_cap``.
    ``Task.retry_if(exc)`` chooses which exceptions are retried (all by
    default).  ``Task.retries`` counts the retries made, ``Task.error`` keeps
    the last exception, and ``Task.attempts`` records every attempt: start,
    end, outcome, worker slot.

Cancellation
    `cancel` cancels a pending, waiting, backing-off or running task and all
    of its dependents.  Cancelling `run` itself cancels every running
    attempt, waits for them to unwind and ends every unfinished task
    CANCELLED, so no asyncio task is left pending.

Monitoring
    Every state change is a `TaskEvent` (task id, old and new state, attempt,
    worker slot, loop-clock time).  Subscribe with `subscribe` (a callback)
    or ``async for event in scheduler.events()``; ``event_log`` keeps them
    all.  `get_stats` works at any time, also during `run`.  `progress` is
    the finished fraction; ``run(progress=True)`` draws a one-line progress
    bar on a terminal.

Time
    Every duration comes from the event loop's clock (``loop.time()``), so
    runs on `course_lib.run_virtual` are exact.  ``created_at``,
    ``started_at`` and ``completed_at`` stay datetimes for the chapter's API;
    the last two are derived from the loop clock too.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import math
import random
import reprlib
import sys
from collections.abc import AsyncIterator, Callable
import threading
from concurrent.futures import Executor, Future
from datetime import datetime, timedelta
from graphlib import CycleError, TopologicalSorter
from heapq import heappop, heappush
from typing import Any, Optional, TextIO

from .._numbers import is_finite_number
from ..events import EventHub
from ..i18n import get_language
from ._calls import CallPlan, TaskSignatureError, plan_call, refuse_generator_result
from ._deadlines import Deadlines
from ._explain import explain
from .progress import ProgressLine
from .stats import percentiles, rounded
from .task import (
    Attempt,
    DependencyFailedError,
    Task,
    TaskCancelledError,
    TaskEvent,
    TaskStatus,
)

__all__ = ["SmartScheduler"]

PENDING, WAITING, RUNNING = TaskStatus.PENDING, TaskStatus.WAITING, TaskStatus.RUNNING
COMPLETED, FAILED = TaskStatus.COMPLETED, TaskStatus.FAILED
TIMEOUT, CANCELLED = TaskStatus.TIMEOUT, TaskStatus.CANCELLED
_UNSUCCESSFUL = frozenset({FAILED, TIMEOUT, CANCELLED})


class _Node:
    """The scheduler's private bookkeeping for one task (graphlib-style)."""

    __slots__ = (
        "task", "deps", "plan", "seq", "remaining", "successors", "timer", "deadline", "runner",
        "cancel_reason", "timed_out", "ended_at", "waiters",
    )

    def __init__(self, task: Task, deps: tuple[str, ...], plan: CallPlan, seq: int) -> None:
        self.task = task
        self.deps = deps  # dependency ids, in the order their results are passed
        self.plan = plan  # how to call task.func (shared by tasks of the same shape)
        self.seq = seq  # add order: the FIFO tie-break
        self.remaining = 0  # dependencies not yet COMPLETED
        # Ids of tasks waiting for this one; a list only once one hooks in, as
        # most tasks have none (every object kept per task costs memory and GC time).
        self.successors: Optional[list[str]] = None
        self.timer: Optional[asyncio.TimerHandle] = None  # backoff
        self.deadline: Optional[int] = None  # token of the running attempt's timeout
        self.runner: Optional[asyncio.Future] = None  # the running attempt
        self.cancel_reason: Optional[str] = None
        self.timed_out = False
        self.ended_at: Optional[float] = None
        self.waiters: Optional[list[asyncio.Future]] = None


class SmartScheduler:
    """Runs `Task` objects by priority, dependencies, worker limit, timeout and retry.

    See the module docstring for the complete rules.

    Example use::

        scheduler = SmartScheduler(max_workers=2, jitter=0.1, seed=42)
        for i in range(5):
            await scheduler.add_task(Task(id=f"t{i}", func=work, args=(i,)))
        await scheduler.run()
        scheduler.get_stats()["completed"]   # 5
    """

    def __init__(
        self,
        max_workers: int = 5,
        *,
        aging: float = 0.0,
        backoff_cap: float = 60.0,
        jitter: float = 0.0,
        seed: Optional[int] = None,
        record_events: bool = True,
    ) -> None:
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive integer, got {max_workers!r}")
        _require(is_finite_number(aging) and aging >= 0, "aging", aging, "a finite int or float >= 0")
        _require(is_finite_number(backoff_cap) and backoff_cap >= 0, "backoff_cap", backoff_cap,
                 "a finite int or float >= 0 (seconds)")
        _require(is_finite_number(jitter) and 0 <= jitter <= 1, "jitter", jitter,
                 "an int or float within [0, 1]")
        self.max_workers = max_workers
        self.aging = aging
        self.backoff_cap = backoff_cap
        self.jitter = jitter
        self._rng = random.Random(seed)
        self.tasks: dict[str, Task] = {}
        self._hub: EventHub[TaskEvent] = EventHub(record=record_events, name="scheduler event")
        self.event_log: Optional[list[TaskEvent]] = self._hub.log

        self._nodes: dict[str, _Node] = {}
        self._plan_cache: dict = {}
        self._seq = itertools.count()
        self._inactive: list[str] = []  # added while idle: activated by run()
        self._inactive_dependents: dict[str, list[str]] = {}  # their dependencies, reversed
        self._ready: list[tuple[float, int, str]] = []  # heap of (key, seq, id)
        # Worker slots are numbered 0, 1, ... as they are first needed, so memory
        # follows the tasks, not max_workers; freed ones are reused lowest first.
        self._free_slots: list[int] = []  # heap of freed slots
        self._slots_made = 0
        self._running: dict[str, _Node] = {}
        self._counts = dict.fromkeys(TaskStatus, 0)
        self._unfinished = 0
        self._retries = 0
        self._durations: list[float] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._deadlines: Optional[Deadlines] = None
        self._active = False  # a run() is in progress
        self._dispatch_queued = False
        self._wakeup: Optional[asyncio.Future] = None
        self._abandoned_threads = 0  # threads of timed-out sync attempts still running
        self._abandoned_lock = threading.Lock()
        self._t_start: Optional[float] = None
        self._t_stop: Optional[float] = None
        self._anchor: tuple[datetime, float] = (datetime.now(), 0.0)

    # ------------------------------------------------------------------ API

    async def add_task(self, task: Task) -> str:
        """Add *task* and return its id.  Safe to call while `run` is in progress."""
        if not isinstance(task, Task):
            raise TypeError(f"add_task() needs a Task, got {type(task).__name__}")
        if not isinstance(task.id, str) or not task.id:
            raise ValueError(f"a task id must be a non-empty string, got {task.id!r}")
        if task.id in self._nodes:
            raise ValueError(f"duplicate task id {task.id!r}: every task needs its own id")
        _check_numbers(task)
        if task.status is not PENDING or task.attempts:
            raise ValueError(f"task {task.id!r} was already used ({task.status.value}); add a new Task")
        deps, plan = plan_call(task, self._plan_cache)
        loop = self._bind_loop()
        if self._active:
            self._check_graph([task.id], extra={task.id: deps})
        node = _Node(task, deps, plan, next(self._seq))
        self._nodes[task.id] = node
        self.tasks[task.id] = task
        self._counts[PENDING] += 1
        self._unfinished += 1
        self._hub.emit(TaskEvent(loop.time(), task.id, None, PENDING,
                                 priority=task.priority, dependencies=deps))
        if self._active:
            self._activate(node)
            self._dispatch_soon()
        else:
            self._inactive.append(task.id)
            for dep in deps:
                self._inactive_dependents.setdefault(dep, []).append(task.id)
        return task.id

    async def run(
        self, *, progress: bool | TextIO = False, monitor: bool | str = False
    ) -> dict[str, Task]:
        """Run until every task has ended; return ``{task_id: Task}``.

        Raises `ValueError` for unknown dependency ids or cycles before
        anything runs.  ``progress=True`` (or a text stream) draws a one-line
        progress display on stderr (or that stream).  ``monitor=True`` shows
        the live dashboard (`course_lib.viz.SchedulerDashboard`; pass "text"
        or "widget" to choose its mode).
        """
        if self._active:
            raise RuntimeError("run() is already in progress on this scheduler")
        loop = self._bind_loop()
        views: list[Any] = []
        try:
            self._check_graph(self._inactive)
            self._active = True
            now = loop.time()
            if self._t_start is None:
                self._t_start = now
            self._t_stop = None
            if progress:
                line = ProgressLine(self, sys.stderr if progress is True else progress)
                views.append((line, self.subscribe(line)))
            if monitor:
                from ..viz.dashboard import SchedulerDashboard  # views load only when asked for

                dashboard = SchedulerDashboard(self, mode="auto" if monitor is True else monitor)
                views.append((dashboard.open(), None))
            inactive, self._inactive = self._inactive, []
            self._inactive_dependents = {}
            for tid in inactive:
                self._activate(self._nodes[tid])
            self._dispatch()
            while self._unfinished:
                self._wakeup = loop.create_future()
                await self._wakeup
        except asyncio.CancelledError:
            await self._abort("run() was cancelled")
            raise
        finally:
            self._active = False
            self._wakeup = None
            self._t_stop = loop.time()
            if not self._deadlines:  # no attempt is running: disarm its timer
                self._deadlines.close()
            self._hub.close_streams()
            for view, unsubscribe in views:
                if unsubscribe is not None:
                    unsubscribe()
                view.close()
        return self.tasks

    async def process_task(self, task: Task) -> Task:
        """Make sure *task* is added and wait until it has ended; return it.

        During a `run` this waits for that one task.  Otherwise it runs the
        scheduler (every added task, by the rules) and returns *task*.
        """
        if self.tasks.get(task.id) is not task:
            await self.add_task(task)
        node = self._nodes[task.id]
        if task.status.is_terminal:
            return task
        if not self._active:
            await self.run()
            return task
        waiter = self._bind_loop().create_future()
        node.waiters = (node.waiters or []) + [waiter]
        await waiter
        return task

    def cancel(self, task_id: str, reason: str = "cancelled by scheduler.cancel()") -> bool:
        """Cancel a task that has not ended, and its dependents.

        Returns False if the task had already ended.  A running attempt is
        cancelled and the task ends CANCELLED once it has unwound.
        """
        node = self._node(task_id)
        status = node.task.status
        if status.is_terminal:
            return False
        if status is RUNNING:
            node.cancel_reason = reason
            node.runner.cancel()
            self._cascade(node, CANCELLED)
            return True
        if node.timer is not None:  # backing off
            node.timer.cancel()
            node.timer = None
        self._end(node, CANCELLED, error=TaskCancelledError(f"task {task_id!r}: {reason}"))
        self._cascade_inactive(node)
        return True

    def subscribe(self, callback: Callable[[TaskEvent], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` for every future event; returns an unsubscribe function."""
        return self._hub.subscribe(callback)

    async def events(self) -> AsyncIterator[TaskEvent]:
        """Yield every event recorded so far, then live ones, until the scheduler is idle.

        The stream ends when the run in progress (or, if tasks are waiting for
        one, the next run) ends, and at once if there is nothing left to do.
        """
        # Decided when iteration starts, not when events() is called.
        async for event in self._hub.stream(live=self._active or bool(self._unfinished)):
            yield event

    def get_stats(self) -> dict[str, Any]:
        """A snapshot of counts, rates and duration percentiles (loop-clock seconds).

        Fractions and times are rounded to 9 decimals (`stats.rounded`).
        """
        counts = self._counts
        total = len(self._nodes)
        finished = total - self._unfinished
        elapsed = self._elapsed()
        completed = counts[COMPLETED]
        return {
            "total": total,
            "completed": completed,
            "failed": counts[FAILED] + counts[TIMEOUT],
            "cancelled": counts[CANCELLED],
            "status": {status.value: n for status, n in counts.items()},
            "running": len(self._running),
            "queued": counts[PENDING] + counts[WAITING],
            "retries": self._retries,
            "success_rate": rounded(completed / finished) if finished else 0.0,
            "progress": rounded(finished / total) if total else 0.0,
            "elapsed": rounded(elapsed),
            "throughput": rounded(completed / elapsed) if elapsed > 0 else 0.0,
            "durations": percentiles(self._durations),
        }

    @property
    def progress(self) -> float:
        """Fraction of added tasks that have ended (0.0 when there are none)."""
        total = len(self._nodes)
        return (total - self._unfinished) / total if total else 0.0

    def why_waiting(self, task_id: str, lang: Optional[str] = None) -> str:
        """Say in words what holds *task_id* back, in *lang* ("zh" or "en";
        by default the language of `course_lib.set_language`, Chinese)."""
        return explain(self, self._node(task_id), lang or get_language())

    def __repr__(self) -> str:
        c = self._counts
        return (
            f"<SmartScheduler {'running' if self._active else 'idle'} "
            f"workers={len(self._running)}/{self.max_workers} queued={c[PENDING] + c[WAITING]} "
            f"completed={c[COMPLETED]} failed={c[FAILED] + c[TIMEOUT]} "
            f"cancelled={c[CANCELLED]} total={len(self._nodes)}>"
        )

    # ------------------------------------------------------------ the graph

    def _node(self, task_id: str) -> _Node:
        try:
            return self._nodes[task_id]
        except KeyError:
            raise KeyError(f"unknown task id {task_id!r}") from None

    def _check_graph(self, ids: list[str], extra: dict[str, tuple[str, ...]] | None = None) -> None:
        """Raise ValueError for unknown dependency ids or cycles among *ids*.

        Activation does not need a topological order (a task hooks itself to
        upstream tasks whatever their state), so only cycles are looked for,
        and only among tasks that have dependencies.
        """
        deps_of = {tid: self._nodes[tid].deps for tid in ids if tid in self._nodes}
        deps_of.update(extra or {})
        unknown = [
            f"task {tid!r} depends on {dep!r}"
            for tid, deps in deps_of.items()
            for dep in deps
            if dep not in self._nodes and dep not in deps_of
        ]
        if unknown:
            raise ValueError(
                "unknown dependency id(s), never added to this scheduler: " + "; ".join(unknown)
            )
        graph = {tid: [d for d in deps if d in deps_of] for tid, deps in deps_of.items() if deps}
        try:
            TopologicalSorter(graph).prepare()
        except CycleError as exc:
            cycle = " -> ".join(reversed(exc.args[1]))
            raise ValueError(f"dependency cycle: {cycle} (each task depends on the next)") from None

    def _activate(self, node: _Node) -> None:
        """Hook a task into the graph: ready, waiting, or cancelled by a failed upstream."""
        task = node.task
        if task.status.is_terminal:  # cancelled before run() started
            return
        for dep in node.deps:
            upstream = self._nodes[dep]
            status = upstream.task.status
            if status in _UNSUCCESSFUL:
                self._end(node, CANCELLED, error=_upstream_error(task.id, upstream))
                return
            if status is not COMPLETED:
                if upstream.successors is None:
                    upstream.successors = []
                upstream.successors.append(task.id)
                node.remaining += 1
        if node.remaining:
            self._transition(node, WAITING, reason="waiting for " + ", ".join(
                d for d in node.deps if self.tasks[d].status is not COMPLETED))
        else:
            self._push_ready(node)

    def _push_ready(self, node: _Node) -> None:
        priority = node.task.priority
        # Aging: effective priority = priority - aging * (now - ready_since).
        # Comparing two tasks, the common "now" cancels out, so the static key
        # priority + aging * ready_since orders them correctly at every moment.
        key = priority + self.aging * self._loop.time() if self.aging else priority
        heappush(self._ready, (key, node.seq, node.task.id))

    def _dispatch_soon(self) -> None:
        """Dispatch once the callbacks already queued on the loop have run.

        Attempts that end in the same loop iteration all report first, so the
        next task is chosen among everything they made ready, not just among
        what the first of them did.  Several requests coalesce into one pass.
        """
        if not self._dispatch_queued:
            self._dispatch_queued = True
            self._loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        """Start the best ready tasks while worker slots are free."""
        self._dispatch_queued = False
        if not self._active:
            return
        ready, nodes = self._ready, self._nodes
        while ready and self._has_free_slot():
            node = nodes[heappop(ready)[2]]
            if node.task.status is PENDING:  # cancelled tasks leave stale entries
                self._start(node, self._take_slot())

    def _has_free_slot(self) -> bool:
        return bool(self._free_slots) or self._slots_made < self.max_workers

    def _take_slot(self) -> int:
        """The lowest free worker slot (one is free)."""
        if self._free_slots:
            return heappop(self._free_slots)
        self._slots_made += 1
        return self._slots_made - 1

    # ------------------------------------------------------------- attempts

    def _start(self, node: _Node, slot: int) -> None:
        task, loop = node.task, self._loop
        now = loop.time()
        attempt = Attempt(len(task.attempts) + 1, slot, now)
        task.attempts.append(attempt)
        if attempt.number > 1:
            task.retries = attempt.number - 1
            self._retries += 1
        if task.started_at is None:
            task.started_at = self._wall(now)
        node.timed_out = False
        args, kwargs = node.plan.call_args(task, node.deps, self.tasks)
        if node.plan.is_async:
            try:
                awaitable = task.func(*args, **kwargs)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # raised before returning a coroutine
                awaitable = _settled(error=exc)
        else:
            awaitable = self._in_thread(attempt, task.func, args, kwargs)
        if inspect.iscoroutine(awaitable):
            runner = loop.create_task(awaitable)
        elif inspect.isawaitable(awaitable):  # a Future, an object with __await__
            runner = asyncio.ensure_future(awaitable, loop=loop)
        else:  # an "async" callable that returned a plain value
            runner = loop.create_task(_settled(awaitable))
        # The runner exists before anyone hears of the start, so a listener
        # may cancel the task from its RUNNING event.
        node.runner = runner
        self._running[task.id] = node
        if task.timeout is not None:
            node.deadline = self._deadlines.add(now + task.timeout, node)
        self._transition(node, RUNNING, slot=slot, time=now)
        runner.add_done_callback(functools.partial(self._on_attempt_done, node))

    async def _in_thread(self, attempt: Attempt, func: Callable, args: tuple, kwargs: dict) -> Any:
        """Call a sync *func* in a daemon thread of its own (see `_ThreadCall`)."""
        if self._abandoned_threads >= MAX_ABANDONED_THREADS:
            raise AbandonedThreadsError(
                f"{MAX_ABANDONED_THREADS} threads of timed-out sync tasks are still running (a "
                "timeout cannot stop a thread); make the function return in time, or async")
        call = _ThreadCall(self, attempt, func, args, kwargs)
        try:
            result = await self._loop.run_in_executor(_DAEMON_THREADS, call.run)
        except asyncio.CancelledError:
            call.give_up()
            raise
        refuse_generator_result(func, result)
        if inspect.isawaitable(result):  # e.g. a lambda returning a coroutine
            result = await result
        return result

    def _on_attempt_done(self, node: _Node, runner: asyncio.Future) -> None:
        task, now = node.task, self._loop.time()
        if node.deadline is not None:
            self._deadlines.cancel(node.deadline)
            node.deadline = None
        node.runner = None
        del self._running[task.id]
        attempt = task.attempts[-1]
        attempt.end = now
        heappush(self._free_slots, attempt.slot)

        exc = None if runner.cancelled() else runner.exception()
        if node.cancel_reason is not None:
            outcome, exc = CANCELLED, TaskCancelledError(f"task {task.id!r}: {node.cancel_reason}")
        elif node.timed_out:  # our timer cancelled it (or it overran and swallowed that)
            outcome = TIMEOUT
            exc = TimeoutError(
                f"attempt {attempt.number} of task {task.id!r} timed out after {task.timeout:g} s"
                + (" (its thread was abandoned and keeps running)" if attempt.abandoned else "")
            )
        elif runner.cancelled():
            outcome, exc = CANCELLED, TaskCancelledError(
                f"task {task.id!r}: its function raised CancelledError")
        else:
            outcome = FAILED if exc is not None else COMPLETED
        attempt.outcome, attempt.error = outcome, exc

        if outcome is COMPLETED:
            self._end(node, COMPLETED, result=runner.result(), time=now)
        elif outcome is not CANCELLED and self._should_retry(task, outcome, exc):
            self._back_off(node, attempt, exc, now)
        else:
            self._end(node, outcome, error=exc, time=now)
        self._dispatch_soon()

    def _should_retry(self, task: Task, outcome: TaskStatus, exc: BaseException) -> bool:
        if len(task.attempts) > task.max_retries:
            return False
        if isinstance(exc, TaskSignatureError):  # a mistake in the task: a retry repeats it
            return False
        if outcome is TIMEOUT:
            return task.retry_on_timeout
        if task.retry_if is None:
            return True
        try:
            return bool(task.retry_if(exc))
        except Exception as predicate_error:
            exc.add_note(f"retry_if raised {predicate_error!r}, so the task was not retried")
            return False

    def _back_off(self, node: _Node, attempt: Attempt, exc: BaseException, now: float) -> None:
        task = node.task
        k = attempt.number  # the coming retry is retry number k
        delay = task.retry_delay * 2.0 ** min(k - 1, 1000)
        if self.jitter:
            delay *= 1 + self.jitter * (2 * self._rng.random() - 1)
        delay = max(0.0, min(delay, self.backoff_cap))
        attempt.backoff = delay
        task.error = exc
        node.timer = self._loop.call_later(delay, self._requeue, node)
        self._transition(
            node, PENDING, slot=attempt.slot, time=now, retry_at=now + delay,
            reason=f"attempt {k} {attempt.outcome.value}: {exc!r}; retry in {delay:g} s",
        )

    def _requeue(self, node: _Node) -> None:
        node.timer = None
        if node.task.status is PENDING:
            self._push_ready(node)
            self._dispatch_soon()

    # ------------------------------------------------------------- endings

    def _end(self, node: _Node, status: TaskStatus, *, result: Any = None,
             error: Optional[BaseException] = None, time: Optional[float] = None) -> None:
        """Move a task to its terminal *status* and tell the graph."""
        self._finish(node, status, result, error, time)
        if status is COMPLETED:
            for sid in node.successors or ():
                successor = self._nodes[sid]
                successor.remaining -= 1
                if not successor.remaining and successor.task.status is WAITING:
                    self._transition(successor, PENDING, reason=f"{node.task.id} completed")
                    self._push_ready(successor)
        else:
            self._cascade(node, status)
        if not self._unfinished and self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _cascade(self, root: _Node, status: TaskStatus) -> None:
        """Cancel everything downstream of *root* (iteratively: chains may be long)."""
        stack = [(root, status)]
        while stack:
            upstream, upstream_status = stack.pop()
            for sid in upstream.successors or ():
                node = self._nodes[sid]
                if node.task.status.is_terminal:
                    continue
                error = _upstream_error(sid, upstream, upstream_status, root.task.id)
                self._finish(node, CANCELLED, None, error, None)
                stack.append((node, CANCELLED))

    def _cascade_inactive(self, root: _Node) -> None:
        """Cancel tasks added before run() that depend on *root*, directly or not.

        They are not hooked into the graph yet (run() does that), so they are
        found through ``_inactive_dependents``: linear in the tasks touched.
        """
        dependents = self._inactive_dependents
        stack = [root]
        while stack:
            upstream = stack.pop()
            for tid in dependents.get(upstream.task.id, ()):
                node = self._nodes[tid]
                if node.task.status.is_terminal:
                    continue
                error = _upstream_error(tid, upstream, CANCELLED, root.task.id)
                self._finish(node, CANCELLED, None, error, None)
                stack.append(node)

    def _finish(self, node: _Node, status: TaskStatus, result: Any,
                error: Optional[BaseException], time: Optional[float]) -> None:
        task = node.task
        now = self._loop.time() if time is None else time
        task.result = result
        if error is not None:
            task.error = error
        task.completed_at = self._wall(now)
        node.ended_at = now
        self._unfinished -= 1
        if task.attempts:
            self._durations.append(now - task.attempts[0].start)
        slot = task.attempts[-1].slot if task.status is RUNNING else None
        self._transition(node, status, time=now, slot=slot,
                         reason="" if error is None else str(error))
        for waiter in node.waiters or ():
            if not waiter.done():
                waiter.set_result(None)
        node.waiters = None

    async def _abort(self, reason: str) -> None:
        """Cancel everything unfinished, then wait for running attempts to unwind."""
        self._active = False  # no new starts
        runners = [node.runner for node in self._running.values()]
        for node in list(self._running.values()):
            node.cancel_reason = reason
            node.runner.cancel()
        for node in self._nodes.values():
            if not node.task.status.is_terminal and node.task.status is not RUNNING:
                if node.timer is not None:
                    node.timer.cancel()
                    node.timer = None
                self._finish(node, CANCELLED, None, TaskCancelledError(reason), None)
        if runners:
            await asyncio.wait(runners)

    # ------------------------------------------------------------- plumbing

    def _transition(self, node: _Node, new: TaskStatus, *, slot: Optional[int] = None,
                    time: Optional[float] = None, reason: str = "",
                    retry_at: Optional[float] = None) -> None:
        """The one place where a task changes state (after `add_task` made it PENDING)."""
        task = node.task
        old = task.status
        task.status = new
        counts = self._counts
        counts[old] -= 1
        counts[new] += 1
        attempts = task.attempts
        self._hub.emit(TaskEvent(
            self._loop.time() if time is None else time, task.id, old, new, len(attempts),
            slot, reason, retry_at, attempts[-1].outcome if old is RUNNING else None))

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._active:
                raise RuntimeError("this scheduler is running on another event loop")
            self._loop = loop
            self._deadlines = Deadlines(loop, _expire)
            self._t_start = None
            # One anchor per loop: datetimes then keep the loop clock's spacing,
            # across runs too (virtual time may race ahead of the wall clock).
            self._anchor = (datetime.now(), loop.time())
        return loop

    def _wall(self, loop_time: float) -> datetime:
        anchor, anchor_time = self._anchor
        # timedelta(0, s) is timedelta(seconds=s), without the keyword parsing
        # that made this line one of the costliest of a task's life.
        return anchor + timedelta(0, loop_time - anchor_time)

    def _elapsed(self) -> float:
        if self._t_start is None:
            return 0.0
        end = self._loop.time() if self._active else self._t_stop
        return max(0.0, (end if end is not None else self._t_start) - self._t_start)


def _expire(node: _Node) -> None:
    node.deadline = None
    if not node.runner.done():  # else it finished in time; its callback is queued
        node.timed_out = True
        node.runner.cancel()


async def _settled(value: Any = None, error: Optional[BaseException] = None) -> Any:
    if error is not None:
        raise error
    return value


def _upstream_error(task_id: str, upstream: _Node, status: Optional[TaskStatus] = None,
                    root: Optional[str] = None) -> DependencyFailedError:
    if root is None and isinstance(upstream.task.error, DependencyFailedError):
        root = upstream.task.error.root
    return DependencyFailedError(task_id, upstream.task.id, status or upstream.task.status, root)


MAX_ABANDONED_THREADS = 16


class AbandonedThreadsError(RuntimeError):
    """Too many threads of timed-out sync tasks are still running to start another."""


class _ThreadCall:
    """One call of a sync task function in a thread, and its abandonment.

    A timeout cannot stop a thread.  When the attempt gives up on a call that
    is still running, the attempt is marked ``abandoned`` and the thread is
    counted in the scheduler's ``_abandoned_threads`` until the call returns.
    One lock orders the three moments (the call starts, the attempt gives up,
    the call returns), so the count is exact; a call the attempt gave up on
    before its thread got to it is skipped.
    """

    def __init__(self, scheduler: SmartScheduler, attempt: Attempt, func: Callable,
                 args: tuple, kwargs: dict) -> None:
        self.scheduler, self.attempt = scheduler, attempt
        self.func, self.args, self.kwargs = func, args, kwargs
        self.started = self.finished = self.given_up = False

    def run(self) -> Any:
        """In the thread: call the function (unless the attempt has already ended)."""
        with self.scheduler._abandoned_lock:
            if self.given_up:
                return None
            self.started = True
        try:
            return self.func(*self.args, **self.kwargs)
        except StopIteration as exc:  # a future cannot carry it: the attempt would never end
            name = getattr(self.func, "__qualname__", repr(self.func))
            raise RuntimeError(f"{name}() raised StopIteration") from exc
        finally:
            with self.scheduler._abandoned_lock:
                self.finished = True
                if self.attempt.abandoned:
                    self.scheduler._abandoned_threads -= 1

    def give_up(self) -> None:
        """On the loop: the attempt ends (cancelled or timed out) without the call's result."""
        with self.scheduler._abandoned_lock:
            self.given_up = True
            self.attempt.abandoned = self.started and not self.finished
            if self.attempt.abandoned:
                self.scheduler._abandoned_threads += 1


class _DaemonThreads(Executor):
    """Runs each call in a new daemon thread.  A thread that a timeout abandoned
    never blocks interpreter exit, as a `ThreadPoolExecutor`'s would (they are
    joined at exit)."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

        threading.Thread(target=run, name="scheduler-task", daemon=True).start()
        return future


_DAEMON_THREADS = _DaemonThreads()


_FLOAT_MAX = sys.float_info.max


def _require(ok: bool, name: str, value: Any, what: str, task_id: Optional[str] = None) -> None:
    """Raise a ValueError naming the parameter and the value unless *ok*."""
    if not ok:
        where = "" if task_id is None else f"task {task_id!r}: "
        kind = " (a bool is not a number here)" if isinstance(value, bool) else ""
        raise ValueError(f"{where}{name} must be {what}{kind}, got {reprlib.repr(value)}")


def _check_numbers(task: Task) -> None:
    """Refuse NaN, infinities, bools and other non-numbers in a task's numeric fields."""
    if (type(task.priority) is int and -_FLOAT_MAX <= task.priority <= _FLOAT_MAX
            and type(task.max_retries) is int and task.max_retries >= 0
            and type(task.timeout) is float and 0 < task.timeout < math.inf
            and type(task.retry_delay) is float and 0 <= task.retry_delay < math.inf):
        return  # the common case, checked fast
    tid = task.id
    _require(is_finite_number(task.priority), "priority", task.priority, "a finite int or float", tid)
    _require(task.timeout is None or (is_finite_number(task.timeout) and task.timeout > 0), "timeout",
             task.timeout, "a finite int or float > 0 (seconds), or None", tid)
    _require(type(task.max_retries) is int and task.max_retries >= 0, "max_retries",
             task.max_retries, "an int >= 0", tid)
    _require(is_finite_number(task.retry_delay) and task.retry_delay >= 0, "retry_delay",
             task.retry_delay, "a finite int or float >= 0 (seconds)", tid)
