"""Coordinator: registers agents, hands them tasks, and sees every task through.

Example use::

    async with Coordinator(heartbeat_interval=1.0, heartbeat_timeout=3.0) as coordinator:
        for agent in (SearchAgent("search-1"), SearchAgent("search-2"), CalculatorAgent("calc-1")):
            await agent.connect(coordinator)
        ids = [await coordinator.assign_task(task) for task in tasks]
        results = await coordinator.gather(ids)
        print(coordinator.get_stats())

The rules
=========

Registration
    ``await agent.connect(coordinator)`` registers an agent under its unique
    id with an `AgentInfo` (status idle, busy or offline).  An agent has one
    or more capabilities and a ``capacity``: how many tasks it runs at once
    (1 by default).  `find_agents` lists the agents with a capability;
    `unregister_agent` removes one and re-queues its running tasks; the
    tasks that only it may run fail with `InvalidTaskError`.

Dispatch
    `assign_task` returns a task id at once.  ``task["type"]`` must name an
    `AgentCapability` (the member or its value), or it raises
    `InvalidTaskError`.  The task goes to an online agent that has that
    capability and a free slot; while there is none it waits in
    `task_queue`, FIFO for each capability.  ``agent=`` allows one agent
    only.  A re-queued task goes back to the front.

Load balancing
    Among the free agents, the policy chooses (`balancing`): least-loaded
    (the default), round-robin, random or power-of-two-choices.

Messages
    All traffic between the coordinator and the agents is `Message` objects
    on ``message_bus``, one inbox per address, FIFO for each sender:
    TASK_REQUEST carries an attempt to an agent and TASK_RESULT its outcome
    back; agents send HEARTBEAT; an agent's `request` is a TASK_REQUEST to
    the coordinator, answered by a TASK_RESULT when that task ends.

Heartbeats and failover
    Agents send a heartbeat every ``heartbeat_interval``.  An agent silent
    for ``heartbeat_timeout`` (crashed, paused, hung) is marked offline and
    its running tasks go back to the front of the queue, for other agents: a
    reassignment, not a failed attempt.  So a task restarts elsewhere at most
    ``heartbeat_timeout`` after the crashed agent's last heartbeat.  An
    offline agent heard from again is back online, and is told
    (AGENT_STATUS) which attempts it must drop.

Retries
    An attempt that raises is a failure (so is one that ends in a
    CancelledError nobody asked for: `TaskCancelledError`).  The task is
    re-queued for an agent that has not failed it yet; only if no such
    agent is online may one that failed it try again.  After
    ``max_attempts`` failures the task ends FAILED with the last error.  A
    `PermanentTaskError` ends it at once.

Exactly once
    Only the outcome of a task's current attempt, from the agent it was sent
    to, while the task runs, counts.  Any other result (late, duplicate,
    from an agent thought dead, after the deadline) is ignored and recorded
    as an IGNORED event.  Each task ends COMPLETED or FAILED exactly once.

Deadlines
    With ``deadline=`` seconds, a task not finished in time ends FAILED with
    `TaskDeadlineError`, which says whether any agent ever took it.  An agent
    still running it keeps the slot until it answers.

Results
    `result` returns a task's result or raises its error; `gather` does so
    for several, in order.  ``results`` and ``failures`` keep the finished
    ones.

Monitoring
    Every change is an `AgentEvent` with the loop-clock time: task state
    changes (with agent, attempt, and the previous agent on a restart),
    agent status changes, heartbeats, injected faults and ignored results.
    ``event_log`` keeps them, `subscribe` and `events` stream them.
    `get_stats` works at any time.  Nothing polls: the inbox loop wakes on
    messages, the monitor on one timer armed for the earliest deadline.

Lifecycle
    ``async with coordinator:`` starts the inbox loop, the monitor and the
    ``run()`` loop of every connected agent, and of agents that connect
    later.  Leaving stops them all and waits until they have stopped; tasks
    not finished by then fail with `CoordinatorStoppedError`.  `run` does the
    same until cancelled, for use as a background task.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from heapq import heappop, heappush
from typing import Any, Optional

from ..events import EventHub
from ..i18n import Reason
from ..scheduler.stats import percentiles, rounded
from .agent import BaseAgent
from .balancing import BalancingPolicy, make_policy
from .bus import InMemoryBus, MessageBus
from .taskqueue import TaskQueue
from .types import (
    AgentCapability,
    AgentEvent,
    AgentInfo,
    AgentStatus,
    CoordinatorStoppedError,
    EventKind,
    InvalidTaskError,
    Message,
    MessageType,
    PermanentTaskError,
    Route,
    StatusUpdate,
    TaskDeadlineError,
    TaskRecord,
    TaskRequest,
    TaskResult,
    TaskState,
    loop_time,
    parse_capability,
)

__all__ = ["Coordinator"]

QUEUED, RUNNING = TaskState.QUEUED, TaskState.RUNNING
COMPLETED, FAILED = TaskState.COMPLETED, TaskState.FAILED
IDLE, BUSY, OFFLINE = AgentStatus.IDLE, AgentStatus.BUSY, AgentStatus.OFFLINE
TASK, AGENT = EventKind.TASK, EventKind.AGENT
TASK_REQUEST, TASK_RESULT = MessageType.TASK_REQUEST, MessageType.TASK_RESULT

# ``_new(AgentEvent, (all nine fields))`` builds a named tuple without the
# Python-level ``__new__`` that fills in defaults: a third cheaper, and the
# coordinator makes several per task.  Every field must be given, in order.
_new = tuple.__new__


class _Member:
    """The coordinator's private bookkeeping for one registered agent."""

    __slots__ = ("agent", "info", "routes", "free", "runner", "stale", "latency_sum", "latency_count")

    def __init__(self, agent: BaseAgent, info: AgentInfo) -> None:
        self.agent = agent
        self.info = info
        # Queues this agent can serve, in a fixed order (sets of enums iterate
        # in a different order in every process).
        self.routes: tuple[Route, ...] = (
            *(c for c in AgentCapability if c in info.capabilities), info.id)
        self.free = False  # online with a free slot: listed in Coordinator._free
        self.runner: Optional[asyncio.Task] = None
        self.stale: dict[str, int] = {}  # attempts taken away while it was offline
        self.latency_sum = 0.0
        self.latency_count = 0


class Coordinator:
    """Hands tasks to agents by capability and load, through a message bus.

    See the module docstring for the complete rules.

    Example use::

        coordinator = Coordinator(policy="round_robin", heartbeat_timeout=2.0)
        await SearchAgent("search-1").connect(coordinator)
        async with coordinator:
            task_id = await coordinator.assign_task({"type": AgentCapability.SEARCH,
                                                     "query": "asyncio"})
            print(await coordinator.result(task_id))
    """

    def __init__(
        self,
        *,
        policy: BalancingPolicy | str = "least_loaded",
        seed: Optional[int] = None,
        heartbeat_interval: float = 1.0,
        heartbeat_timeout: float = 3.0,
        max_attempts: int = 3,
        message_bus: Optional[MessageBus] = None,
        coordinator_id: str = "coordinator",
        record_events: bool = True,
    ) -> None:
        if not 0 < heartbeat_interval < heartbeat_timeout:
            raise ValueError(
                "heartbeats need 0 < heartbeat_interval < heartbeat_timeout, got "
                f"{heartbeat_interval!r} and {heartbeat_timeout!r}"
            )
        _check_attempts(max_attempts)
        self.id = coordinator_id
        self.agents: dict[str, AgentInfo] = {}
        self.message_bus: MessageBus = InMemoryBus() if message_bus is None else message_bus
        self.task_queue = TaskQueue()
        self.results: dict[str, Any] = {}
        self.failures: dict[str, BaseException] = {}
        self.tasks: dict[str, TaskRecord] = {}
        self.policy = make_policy(policy, seed)
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.max_attempts = max_attempts
        self._hub: EventHub[AgentEvent] = EventHub(record=record_events, name="agent event")
        self.event_log: Optional[list[AgentEvent]] = self._hub.log

        self._members: dict[str, _Member] = {}
        self._capable: dict[AgentCapability, list[AgentInfo]] = {}
        # For each route, the agents that can take one more task now, by id.
        self._free: dict[Route, dict[str, AgentInfo]] = {}
        self._task_ids = itertools.count(1)
        self._deadlines: list[tuple[float, str, TaskRecord]] = []  # heap
        self._outbox: deque[Message] = deque()
        self._flushing = False
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loops: list[asyncio.Task] = []  # the inbox loop and the monitor
        self._started = False
        self._wakeup: Optional[asyncio.Future] = None  # the monitor's
        self._counts = dict.fromkeys(TaskState, 0)
        self._reassigned = 0
        self._retried = 0
        self._ignored = 0
        self._latencies: list[float] = []  # submit -> completed, per completed task
        self._t_start: Optional[float] = None
        self._t_stop: Optional[float] = None

    # ------------------------------------------------------- registration

    async def register_agent(self, agent: BaseAgent) -> None:
        """Register *agent* (``agent.connect`` calls this); start it if running."""
        if not isinstance(agent, BaseAgent):
            raise TypeError(f"register_agent() needs a BaseAgent, got {type(agent).__name__}")
        if agent.id in self._members or agent.id == self.id:
            raise ValueError(f"an agent with id {agent.id!r} is already registered")
        info = AgentInfo(agent.id, set(agent.capabilities), capacity=agent.capacity)
        await self.message_bus.open(agent.id)
        member = self._members[agent.id] = _Member(agent, info)
        self.agents[agent.id] = info
        for capability in info.capabilities:
            self._capable.setdefault(capability, []).append(info)
        for route in member.routes:
            self._free.setdefault(route, {})
        self._refresh(member)
        agent.coordinator = self
        self._hub.emit(AgentEvent(loop_time(), AGENT, None, agent.id, None, IDLE, reason=Reason("registered")))
        if self._started:
            self._start_agent(member)
            self._wake_monitor()
            self._dispatch(member.routes)
            await self._flush()

    async def unregister_agent(self, agent_id: str) -> None:
        """Stop agent *agent_id* and forget it; its running tasks go to other agents."""
        member = self._member(agent_id)
        info = member.info
        if info.status is not OFFLINE:
            self._reassign(self._mark_offline(member, Reason("unregistered")),
                           Reason("agent {agent} was unregistered", agent=agent_id))
        self._hub.emit(AgentEvent(loop_time(), AGENT, None, agent_id, OFFLINE, None,
                                  reason=Reason("unregistered")))
        del self._members[agent_id], self.agents[agent_id], self._free[agent_id]
        for capability in info.capabilities:
            self._capable[capability].remove(info)
        now = loop_time()
        for record in [r for r in self.task_queue if r.agent_only == agent_id]:
            self._finish(record, FAILED, now, error=InvalidTaskError(
                f"task {record.id!r} may run only on agent {agent_id!r}, which was unregistered"))
        if member.runner is not None:
            member.runner.cancel()
            # An agent that unregisters itself would wait here for its own end;
            # its loop stops at its next wait instead.
            if not member.agent._runs_in(asyncio.current_task()):
                await asyncio.gather(member.runner, return_exceptions=True)
        member.agent.coordinator = None
        await self.message_bus.close(agent_id)
        await self._flush()

    def find_agents(self, capability: AgentCapability | str) -> list[AgentInfo]:
        """The registered agents with *capability* (any status), in registration order."""
        return list(self._capable.get(parse_capability(capability), ()))

    # ------------------------------------------------------------ tasks

    async def assign_task(
        self,
        task: Mapping[str, Any],
        *,
        agent: Optional[str] = None,
        deadline: Optional[float] = None,
        max_attempts: Optional[int] = None,
    ) -> str:
        """Queue *task* for an agent with capability ``task["type"]``; return its id at once.

        ``agent``: only that agent may run it.  ``deadline``: seconds from now
        by which it must finish.  ``max_attempts``: failed attempts allowed
        (default: the coordinator's).  Raises `InvalidTaskError` for a task
        that can never run.
        """
        record = self._submit(task, agent=agent, deadline=deadline, max_attempts=max_attempts)
        route = record.route
        if self._started and self._free.get(route):  # else it waits: nothing to do now
            self._dispatch((route,))
            if self._outbox:
                await self._flush()
        return record.id

    async def result(self, task_id: str, timeout: Optional[float] = None) -> Any:
        """Wait for task *task_id*; return its result or raise its error.

        Raises `TimeoutError` if it has not finished after *timeout* seconds
        (the task itself goes on).
        """
        record = self._record(task_id)
        if not record.done:
            try:
                await self._wait([record], timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"task {task_id!r} did not finish within {timeout:g} s "
                    f"(it is {record.state.value})"
                ) from None
        if record.state is FAILED:
            raise record.error
        return record.result

    async def gather(self, task_ids: Iterable[str], *, return_exceptions: bool = False) -> list[Any]:
        """Wait for all of *task_ids*; return their results in order.

        Then the first failed task (in that order) raises its error, unless
        *return_exceptions* puts the errors in the list instead.
        """
        records = [self._record(task_id) for task_id in task_ids]
        await self._wait([record for record in records if not record.done])
        results = []
        for record in records:
            if record.state is COMPLETED:
                results.append(record.result)
            elif return_exceptions:
                results.append(record.error)
            else:
                raise record.error
        return results

    async def join(self) -> None:
        """Wait until every task submitted so far has finished."""
        await self.gather(list(self.tasks), return_exceptions=True)

    async def _wait(self, records: list[TaskRecord], timeout: Optional[float] = None) -> None:
        """Return once all of the unfinished *records* have finished: one wake-up for all."""
        if not records:
            return
        countdown = _Countdown(self._bind_loop().create_future(), records)
        try:
            async with asyncio.timeout(timeout):
                await countdown.future
        finally:
            countdown.detach(records)

    # -------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Coordinator:
        await self._start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._stop()

    async def run(self) -> None:
        """Run until cancelled: the same as staying inside ``async with coordinator:``."""
        async with self:
            await self._bind_loop().create_future()

    async def monitor_agents(self) -> None:
        """Mark silent agents offline and fail tasks past their deadline, each on time.

        One timer, armed for the earliest heartbeat or task deadline, wakes
        it; so do new agents and new deadlines.  ``async with`` runs it.
        """
        loop = self._bind_loop()
        while True:
            self._expire(loop.time())
            await self._flush()
            wake_at = self._next_deadline()
            self._wakeup = wakeup = loop.create_future()
            timer = None if wake_at is None else loop.call_at(wake_at, _resolve, wakeup)
            try:
                await wakeup
            finally:
                if timer is not None:
                    timer.cancel()

    # ------------------------------------------------------- monitoring

    def subscribe(self, callback: Callable[[AgentEvent], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` for every future event; returns an unsubscribe function."""
        return self._hub.subscribe(callback)

    async def events(self) -> AsyncIterator[AgentEvent]:
        """Yield the events recorded so far, then live ones until the coordinator stops."""
        async for event in self._hub.stream(live=self._started):
            yield event

    def dashboard(self, mode: str = "auto") -> Any:
        """Show a live dashboard of this coordinator and return it; call ``close()`` when done.

        See `course_lib.viz.AgentDashboard` (a view: it only reads events and stats).
        """
        from ..viz.dashboard import AgentDashboard  # views load only when asked for

        return AgentDashboard(self, mode=mode).open()

    def get_stats(self) -> dict[str, Any]:
        """A snapshot: per agent and overall counts, throughput, latency (loop-clock
        seconds, rounded to 9 decimals)."""
        counts = self._counts
        agents = {}
        for agent_id, member in self._members.items():
            info = member.info
            agents[agent_id] = {
                "status": str(info.status),
                "capacity": info.capacity,
                "in_flight": len(info.in_flight),
                "completed": info.tasks_completed,
                "failed": info.tasks_failed,
                "avg_latency": rounded(member.latency_sum / member.latency_count)
                if member.latency_count else 0.0,
            }
        elapsed = self._elapsed()
        return {
            "agents": agents,
            "queued": counts[QUEUED],
            "running": counts[RUNNING],
            "completed": counts[COMPLETED],
            "failed": counts[FAILED],
            "reassigned": self._reassigned,
            "retried": self._retried,
            "ignored": self._ignored,
            "elapsed": rounded(elapsed),
            "throughput": rounded(counts[COMPLETED] / elapsed) if elapsed > 0 else 0.0,
            "latency": percentiles(self._latencies),
        }

    def __repr__(self) -> str:
        c = self._counts
        offline = sum(info.status is OFFLINE for info in self.agents.values())
        return (
            f"<Coordinator {'running' if self._started else 'stopped'} agents={len(self.agents)} "
            f"offline={offline} queued={c[QUEUED]} running={c[RUNNING]} "
            f"completed={c[COMPLETED]} failed={c[FAILED]} policy={self.policy!r}>"
        )

    # ------------------------------------------------------ submitting

    def _submit(
        self,
        task: Mapping[str, Any],
        *,
        task_id: Optional[str] = None,
        agent: Optional[str] = None,
        deadline: Optional[float] = None,
        max_attempts: Optional[int] = None,
        reply_to: Optional[str] = None,
    ) -> TaskRecord:
        if type(task) is not dict and not isinstance(task, Mapping):
            raise InvalidTaskError(f"a task must be a dict, got {type(task).__name__}")
        info = None
        if agent is not None:
            info = self.agents.get(agent)
            if info is None:
                raise InvalidTaskError(f"no agent {agent!r} is registered")
        if "type" in task:
            capability = task["type"]
            if type(capability) is not AgentCapability:
                capability = parse_capability(capability)
        elif info is not None and len(info.capabilities) == 1:
            (capability,) = info.capabilities
        else:
            raise InvalidTaskError(
                "a task needs a 'type' naming an AgentCapability, "
                f"e.g. {{'type': AgentCapability.SEARCH, ...}}; got keys {sorted(map(str, task))}"
            )
        if info is not None and capability not in info.capabilities:
            raise InvalidTaskError(f"agent {agent!r} has no {capability.value!r} capability")
        if deadline is not None and not (isinstance(deadline, (int, float)) and deadline > 0):
            raise InvalidTaskError(f"deadline must be a positive number of seconds, got {deadline!r}")
        if max_attempts is not None:
            _check_attempts(max_attempts)
        if task_id is None:
            task_id = f"task-{next(self._task_ids)}"
        elif task_id in self.tasks:
            raise InvalidTaskError(f"duplicate task id {task_id!r}")
        now = self._loop.time() if self._started else loop_time()
        record = TaskRecord(
            task_id, task, capability, now, max_attempts or self.max_attempts, agent,
            None if deadline is None else now + deadline, reply_to,
        )
        self.tasks[task_id] = record
        self._counts[QUEUED] += 1
        self._hub.emit(_new(AgentEvent, (now, TASK, task_id, agent, None, QUEUED, 0, None, "")))
        self.task_queue.put(record)
        if record.deadline is not None:
            heappush(self._deadlines, (record.deadline, task_id, record))
            self._wake_monitor()
        return record

    # --------------------------------------------------------- dispatch

    def _dispatch(self, routes: Iterable[Route], now: Optional[float] = None) -> None:
        """Start waiting tasks of *routes* on free agents, as the policy chooses."""
        if not self._started:
            return
        free_on, queue = self._free.get, self.task_queue
        take = queue.take
        for route in routes:
            free = free_on(route)
            if not free:
                continue
            held: list[TaskRecord] = []
            while free:  # _start_attempt takes agents out of *free* as they fill up
                record = take(route)
                if record is None:
                    break
                candidates = list(free.values())
                if record.failed_on:
                    candidates = self._avoid_failed(record, candidates)
                    if not candidates:
                        held.append(record)
                        continue
                if now is None:
                    now = self._loop.time()
                self._start_attempt(record, self.policy.choose(candidates), now)
            for record in reversed(held):
                queue.put(record, front=True)

    def _avoid_failed(self, record: TaskRecord, candidates: list[AgentInfo]) -> list[AgentInfo]:
        """The candidates that may retry *record*: those that have not failed it,
        or all of them when every online agent that could run it has."""
        fresh = [a for a in candidates if a.id not in record.failed_on]
        if fresh:
            return fresh
        for info in self._capable.get(record.capability, ()):
            if info.status is not OFFLINE and info.id not in record.failed_on \
                    and record.agent_only in (None, info.id):
                return []  # wait for that one
        return candidates

    def _refresh(self, member: _Member) -> None:
        """Keep ``_free`` in step after the agent's status or load changed."""
        info = member.info
        free = info.status is not OFFLINE and len(info.in_flight) < info.capacity
        if free is not member.free:
            member.free = free
            agent_id, free_on = info.id, self._free
            if free:
                for route in member.routes:
                    free_on[route][agent_id] = info
            else:
                for route in member.routes:
                    del free_on[route][agent_id]

    def _start_attempt(self, record: TaskRecord, info: AgentInfo, now: float) -> None:
        previous, task_id, agent_id = record.agent, record.id, info.id
        record.attempt = attempt = record.attempt + 1
        record.state = RUNNING
        record.agent = agent_id
        record.started_at = now
        in_flight = info.in_flight
        in_flight[task_id] = attempt
        info.tasks_assigned += 1
        info.status = BUSY
        if len(in_flight) >= info.capacity:  # else it stays free
            self._refresh(self._members[agent_id])
        counts = self._counts
        counts[QUEUED] -= 1
        counts[RUNNING] += 1
        self._hub.emit(_new(AgentEvent, (now, TASK, task_id, agent_id, QUEUED, RUNNING, attempt,
                                         previous, "")))
        self._outbox.append(Message(TASK_REQUEST, self.id, agent_id,
                                    _new(TaskRequest, (task_id, record.task, attempt, None, None)), now))

    def _requeue(self, records: list[TaskRecord], reason: Reason, now: float) -> None:
        """Running tasks go back to the front of their queues, keeping their order."""
        counts = self._counts
        for record in records:
            record.state = QUEUED
            counts[RUNNING] -= 1
            counts[QUEUED] += 1
            self._hub.emit(AgentEvent(now, TASK, record.id, record.agent, RUNNING, QUEUED,
                                      record.attempt, reason=reason))
        for record in reversed(records):
            self.task_queue.put(record, front=True)
        self._dispatch(dict.fromkeys(record.route for record in records))

    # ---------------------------------------------------------- inbox

    async def _serve(self) -> None:
        """The inbox loop: handle each message; send what they caused before waiting for more."""
        bus, me, outbox = self.message_bus, self.id, self._outbox
        receive, acknowledge, waiting = bus.receive, bus.acknowledge, bus.waiting
        HEARTBEAT = MessageType.HEARTBEAT
        while True:
            message = await receive(me)
            kind = message.type
            try:
                if kind is TASK_RESULT:
                    self._on_result(message.sender, message.content)
                elif kind is HEARTBEAT:
                    self._on_heartbeat(message.sender)
                elif kind is TASK_REQUEST:
                    self._on_request(message.sender, message.content)
                else:
                    raise ValueError(
                        "the coordinator takes only TASK_RESULT, HEARTBEAT and TASK_REQUEST")
            except (TypeError, ValueError, AttributeError) as exc:
                # A malformed message (buggy agent code) must not stop the inbox
                # loop; the handlers check a message before they change anything.
                self._ignored += 1
                what = getattr(kind, "value", kind)
                self._hub.emit(AgentEvent(self._loop.time(), EventKind.IGNORED, None, message.sender,
                                          reason=Reason("malformed {what} message: {error}",
                                                        what=what, error=str(exc))))
            await acknowledge(me, message)
            # One flush for a whole burst of results: nobody can read these
            # messages before this loop waits anyway.
            if outbox and not waiting(me):
                await self._flush()

    def _on_result(self, sender: str, outcome: TaskResult) -> None:
        task_id, attempt, result, error = outcome
        member = self._members.get(sender)
        record = self.tasks.get(task_id)
        now = self._loop.time()
        # Did *sender* hold this attempt?  Then its slot is free now, whatever the outcome.
        if member is None or member.info.in_flight.get(task_id) != attempt:
            self._ignore(sender, outcome, record, now)
            return
        info = member.info
        in_flight = info.in_flight
        del in_flight[task_id]
        if not in_flight:
            info.status = IDLE
        if not member.free:
            self._refresh(member)
        if record.state is not RUNNING or record.attempt != attempt:
            self._ignore(sender, outcome, record, now)
        else:
            member.latency_sum += now - record.started_at
            member.latency_count += 1
            if error is None:
                info.tasks_completed += 1
                self._finish(record, COMPLETED, now, result)
            else:
                self._on_failure(record, info, error, now)
        self._dispatch(member.routes, now)

    def _on_failure(self, record: TaskRecord, info: AgentInfo, error: BaseException,
                    now: float) -> None:
        info.tasks_failed += 1
        record.failures += 1
        record.failed_on |= {info.id}
        record.error = error
        if record.failures < record.max_attempts and not isinstance(error, PermanentTaskError):
            self._retried += 1
            self._requeue([record], Reason("attempt {attempt} failed on {agent}: {error}",
                                           attempt=record.attempt, agent=info.id, error=repr(error)), now)
        else:
            self._finish(record, FAILED, now, error=error)

    def _ignore(self, sender: str, outcome: TaskResult, record: Optional[TaskRecord],
                now: float) -> None:
        if record is None:
            why = Reason("unknown task")
        elif record.done:
            why = Reason("the task already ended {state}", state=record.state)
        else:
            why = Reason("that attempt was taken away; the task is on attempt {attempt} "
                         "({state}, agent {agent})", attempt=record.attempt, state=record.state,
                         agent=record.agent)
        self._ignored += 1
        self._hub.emit(AgentEvent(now, EventKind.IGNORED, outcome.task_id, sender, None, None,
                                  outcome.attempt, reason=Reason("late or duplicate result: {why}",
                                                                 why=why)))

    def _on_heartbeat(self, sender: str) -> None:
        member = self._members.get(sender)
        if member is None:  # unregistered meanwhile
            return
        info, now = member.info, self._loop.time()
        info.last_heartbeat = now
        self._hub.emit(AgentEvent(now, EventKind.HEARTBEAT, None, sender))
        if info.status is OFFLINE:
            info.status = IDLE
            self._refresh(member)
            self._hub.emit(AgentEvent(now, AGENT, None, sender, OFFLINE, IDLE,
                                      reason=Reason("heard from again")))
            stale, member.stale = tuple(member.stale.items()), {}
            self._outbox.append(Message(
                MessageType.AGENT_STATUS, self.id, sender, StatusUpdate(IDLE, stale), now))
            self._wake_monitor()
            self._dispatch(member.routes)

    def _on_request(self, sender: str, request: TaskRequest) -> None:
        """An agent asked for a task (agent.request): queue it, answer when it ends."""
        try:
            record = self._submit(request.task, task_id=request.task_id, agent=request.agent,
                                  deadline=request.deadline, reply_to=sender)
        except InvalidTaskError as exc:
            self._outbox.append(Message(
                TASK_RESULT, self.id, sender, TaskResult(request.task_id, 0, error=exc)))
        else:
            self._dispatch((record.route,))

    # ------------------------------------------------------- time rules

    def _expire(self, now: float) -> None:
        timeout = self.heartbeat_timeout
        # The same sum as in _next_deadline, so the timer's own time expires it.
        silent = [m for m in self._members.values()
                  if m.info.status is not OFFLINE and now >= m.info.last_heartbeat + timeout]
        # All of them go offline before any task moves, so none moves to one of them.
        lost = [(m, self._mark_offline(m, Reason("no heartbeat for {seconds:g} s",
                                                 seconds=now - m.info.last_heartbeat)))
                for m in silent]
        for member, records in lost:
            self._reassign(records, Reason("agent {agent} went offline", agent=member.info.id))
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            record = heappop(heap)[2]
            if not record.done:
                self._finish(record, FAILED, now, error=_deadline_error(record, self))

    def _next_deadline(self) -> Optional[float]:
        heap = self._deadlines
        while heap and heap[0][2].done:
            heappop(heap)
        times = [info.last_heartbeat + self.heartbeat_timeout
                 for info in self.agents.values() if info.status is not OFFLINE]
        if heap:
            times.append(heap[0][0])
        return min(times, default=None)

    def _mark_offline(self, member: _Member, reason: Reason) -> list[TaskRecord]:
        """Mark an agent offline; return the running tasks it takes down with it."""
        info = member.info
        self._hub.emit(AgentEvent(loop_time(), AGENT, None, info.id, info.status, OFFLINE,
                                  reason=reason))
        info.status = OFFLINE
        lost = []
        for task_id, attempt in info.in_flight.items():
            record = self.tasks[task_id]
            if record.state is RUNNING and record.attempt == attempt:
                lost.append(record)
        member.stale.update(info.in_flight)
        info.in_flight.clear()
        self._refresh(member)
        return lost

    def _reassign(self, records: list[TaskRecord], reason: Reason) -> None:
        if records:
            self._reassigned += len(records)
            self._requeue(records, reason, loop_time())

    def _wake_monitor(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    # --------------------------------------------------------- endings

    def _finish(self, record: TaskRecord, state: TaskState, now: float,
                result: Any = None, error: Optional[BaseException] = None) -> None:
        """End *record* COMPLETED or FAILED: the only place a task ends."""
        old = record.state
        counts = self._counts
        counts[old] -= 1
        counts[state] += 1
        record.state = state
        if old is QUEUED:
            self.task_queue.discard(record)
        record.finished_at = now
        if state is COMPLETED:
            record.result = self.results[record.id] = result
            self._latencies.append(now - record.submitted_at)
        else:
            record.error = self.failures[record.id] = error
        self._hub.emit(_new(AgentEvent, (
            now, TASK, record.id, record.agent, old, state, record.attempt, None,
            "" if error is None else f"{type(error).__name__}: {error}")))
        if record.waiters is not None:
            for countdown in record.waiters:
                countdown.tick()
            record.waiters = None
        if record.reply_to is not None:
            self._outbox.append(Message(TASK_RESULT, self.id, record.reply_to,
                                        TaskResult(record.id, record.attempt, result, error), now))

    # -------------------------------------------------------- plumbing

    async def _start(self) -> None:
        if self._started:
            raise RuntimeError("this coordinator is already running")
        loop = self._bind_loop()
        await self.message_bus.open(self.id)
        now = loop.time()
        self._started = True
        self._t_start, self._t_stop = now, None
        for member in self._members.values():
            member.info.last_heartbeat = now  # nobody could send one before
            self._start_agent(member)
        self._loops = [
            loop.create_task(self._serve(), name=f"{self.id} inbox"),
            loop.create_task(self.monitor_agents(), name=f"{self.id} monitor"),
        ]
        self._dispatch(self.task_queue.routes())
        await self._flush()

    async def _stop(self) -> None:
        if not self._started:
            return
        self._started = False
        tasks = self._loops + [m.runner for m in self._members.values() if m.runner is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loops, self._wakeup = [], None
        now = self._loop.time()
        self._t_stop = now
        for member in self._members.values():
            member.runner = None
            member.info.in_flight.clear()
            self._refresh(member)
        for record in list(self.tasks.values()):
            if not record.done:
                self._finish(record, FAILED, now, error=CoordinatorStoppedError(
                    f"the coordinator stopped before task {record.id!r} finished"))
        self._outbox.clear()  # answers to agents that have stopped
        self._hub.close_streams()

    def _start_agent(self, member: _Member) -> None:
        member.runner = runner = member.agent._launch()
        runner.add_done_callback(functools.partial(self._on_agent_exit, member.info.id))

    def _on_agent_exit(self, agent_id: str, runner: asyncio.Task) -> None:
        if not runner.cancelled() and runner.exception() is not None:
            self._hub.emit(AgentEvent(self._loop.time(), EventKind.CRASH, None, agent_id,
                                      reason=Reason("its run() loop raised {error}",
                                                    error=repr(runner.exception()))))

    async def _flush(self) -> None:
        """Send the queued messages in order (one flusher at a time keeps FIFO)."""
        if self._flushing:
            return
        self._flushing = True
        try:
            outbox, send = self._outbox, self.message_bus.send
            while outbox:
                await send(outbox.popleft())
        finally:
            self._flushing = False

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._started:
                raise RuntimeError("this coordinator is running on another event loop")
            self._loop = loop
        return loop

    def _member(self, agent_id: str) -> _Member:
        try:
            return self._members[agent_id]
        except KeyError:
            raise KeyError(f"no agent {agent_id!r} is registered") from None

    def _record(self, task_id: str) -> TaskRecord:
        try:
            return self.tasks[task_id]
        except KeyError:
            raise KeyError(f"unknown task id {task_id!r}") from None

    def _elapsed(self) -> float:
        if self._t_start is None:
            return 0.0
        end = self._loop.time() if self._started else self._t_stop
        return max(0.0, end - self._t_start)


def _deadline_error(record: TaskRecord, coordinator: Coordinator) -> TaskDeadlineError:
    seconds = record.deadline - record.submitted_at
    capability = record.capability.value
    agents = [a for a in coordinator._capable.get(record.capability, ())
              if record.agent_only in (None, a.id)]
    if record.state is RUNNING:
        where = f"attempt {record.attempt} was still running on {record.agent!r}"
    elif not agents:
        where = f"no agent with the {capability!r} capability " + (
            "is left" if record.attempt else "ever came")
    elif all(a.status is OFFLINE for a in agents):
        where = f"every agent with the {capability!r} capability is offline"
    elif record.attempt:
        where = f"no agent was free to run it again after attempt {record.attempt}"
    else:
        where = "no agent that could take it was free"
    return TaskDeadlineError(f"task {record.id!r} missed its {seconds:g} s deadline: {where}")


class _Countdown:
    """A future resolved when each of some tasks has finished (result and gather wait on it)."""

    __slots__ = ("future", "left")

    def __init__(self, future: asyncio.Future, records: list[TaskRecord]) -> None:
        self.future = future
        self.left = len(records)
        for record in records:
            if record.waiters is None:
                record.waiters = []
            record.waiters.append(self)

    def tick(self) -> None:
        self.left -= 1
        if not self.left and not self.future.done():
            self.future.set_result(None)

    def detach(self, records: list[TaskRecord]) -> None:
        """Stop waiting (timeout, cancellation): leave no trace on unfinished tasks."""
        for record in records:
            if record.waiters is not None and self in record.waiters:
                record.waiters.remove(self)


def _check_attempts(max_attempts: Any) -> None:
    if type(max_attempts) is not int or max_attempts < 1:
        raise ValueError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
