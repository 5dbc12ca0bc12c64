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
    An agent joins with a REGISTER message on the bus; ``await
    agent.connect(coordinator)`` does that for an agent hosted in this
    process (`course_lib.agents.hosting`), a worker process does it itself.
    It is registered under its unique id with an `AgentInfo` (status idle,
    busy or offline).  A new run of a known agent (a restarted worker)
    replaces the old one, whose tasks go to other agents at once.  An agent has one
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
    on ``message_bus``, one inbox per address, FIFO for each sender (the
    protocol is in `course_lib.agents.protocol`).  Delivery is at least
    once, and the coordinator acknowledges a message only after handling it
    and sending what it caused; every handler is idempotent, so a message
    delivered twice changes nothing more (a repeated request is answered
    again, a repeated result is ignored).

Heartbeats and failover
    Agents send a heartbeat every ``heartbeat_interval``.  An agent silent
    for ``heartbeat_timeout`` (crashed, paused, its event loop blocked) is marked offline and
    its running tasks go back to the front of the queue, for other agents: a
    reassignment, not a failed attempt.  So a task restarts elsewhere at most
    ``heartbeat_timeout`` after the crashed agent's last heartbeat.  An
    offline agent heard from again is back online, and is told
    (AGENT_STATUS) which attempts it must drop.  A task lost with its agent
    ``max_lost`` times (crash, restart or silence; not a goodbye) ends
    FAILED with `TaskLostError`: a task that kills every agent it reaches
    must not kill them all in turn, forever.

Timeouts
    Heartbeats come from their own task, so they go on while one
    ``process_task`` hangs.  A task with a ``timeout`` (``assign_task(...,
    timeout=)``, or the coordinator's ``task_timeout``) fails an attempt
    that runs longer with `TaskTimeoutError`, retried like any failure; the
    agent is told (AGENT_STATUS) to drop it, and its slot is free at once.

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
    ``event_log`` keeps them, `subscribe` and `events` stream them.  Of the
    heartbeats it keeps each agent's last ``HEARTBEATS_KEPT`` (100), so an
    idle coordinator's log does not grow forever; listeners see them all.
    `get_stats` works at any time.  Nothing polls: the inbox loop wakes on
    messages, the monitor on one timer armed for the earliest deadline.

Lifecycle
    ``async with coordinator:`` starts the inbox loop, the monitor and the
    ``run()`` loop of every connected agent, and of agents that connect
    later.  Leaving stops them all and waits until they have stopped; tasks
    not finished by then fail with `CoordinatorStoppedError`.  `run` does the
    same until cancelled, for use as a background task.

Durability
    On a bus that lends a `TaskStore` (`RedisBus`), each new task is saved
    before `assign_task` returns its id and each ended task before the
    message that ended it is acknowledged.  A coordinator started again with
    the same id on the same namespace (after a crash, or a stop) takes the
    saved tasks back: the finished ones answer `result`, the unfinished ones
    wait in the queue again; agents it does not know yet are asked to
    register again.  On such a bus, stopping fails the unfinished tasks only
    for the waiters in this process.
"""
from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, NoReturn, Optional

from ..events import EventHub
from ..i18n import Reason
from ..scheduler.stats import percentiles, rounded
from .agent import BaseAgent
from .balancing import BalancingPolicy, make_policy
from .bus import BusEvent, InMemoryBus, MessageBus
from .codec import as_json_data
from .dispatch import dispatch
from .groupcommit import GroupCommit
from .hosting import LocalHost
from .membership import Member, Membership
from .protocol import (
    REGISTER_AGAIN,
    Broadcast,
    Goodbye,
    Heartbeat,
    Message,
    MessageType,
    Registration,
    StatusUpdate,
    TaskRequest,
    TaskResult,
)
from .taskbook import TaskBook, TaskStore, check_attempts, check_task, check_timeout, \
    check_wire_task
from .taskqueue import TaskQueue
from .types import (
    AgentCapability,
    AgentEvent,
    AgentInfo,
    AgentStatus,
    CoordinatorStoppedError,
    EventKind,
    InvalidTaskError,
    PermanentTaskError,
    Route,
    TaskDeadlineError,
    TaskLostError,
    TaskRecord,
    TaskTimeoutError,
    error_summary,
    TaskState,
    loop_time,
    parse_capability,
)

__all__ = ["Coordinator"]

QUEUED, RUNNING = TaskState.QUEUED, TaskState.RUNNING
COMPLETED, FAILED = TaskState.COMPLETED, TaskState.FAILED
IDLE, OFFLINE = AgentStatus.IDLE, AgentStatus.OFFLINE
TASK_REQUEST, TASK_RESULT = MessageType.TASK_REQUEST, MessageType.TASK_RESULT
AGENT_STATUS = MessageType.AGENT_STATUS
CAPABILITY_NAMES = frozenset(c.value for c in AgentCapability)  # not agent ids: request() targets
HEARTBEATS_KEPT = 100  # per agent, in event_log; older heartbeat events are dropped
REMEMBERED_BROADCASTS = 1000  # answered broadcasts kept, to answer a repeat without resending


def _raise_error_of(record: TaskRecord) -> NoReturn:
    """Raise a failed task's error with the traceback it failed with, as
    `asyncio.Future.result` does: raising it again and again does not grow it."""
    raise record.error.with_traceback(record.error_traceback)


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
        max_lost: int = 10,
        task_timeout: Optional[float] = None,
        bus: Optional[MessageBus] = None,
        message_bus: Optional[MessageBus] = None,
        coordinator_id: str = "coordinator",
        record_events: bool = True,
    ) -> None:
        if not 0 < heartbeat_interval < heartbeat_timeout:
            raise ValueError(
                "heartbeats need 0 < heartbeat_interval < heartbeat_timeout, got "
                f"{heartbeat_interval!r} and {heartbeat_timeout!r}"
            )
        check_attempts(max_attempts)
        if type(max_lost) is not int or max_lost < 1:
            raise ValueError(f"max_lost must be an integer >= 1, got {max_lost!r}")
        try:
            check_timeout(task_timeout)
        except InvalidTaskError as exc:
            raise ValueError(f"task_timeout: {exc}") from None
        if bus is not None and message_bus is not None:
            raise ValueError("pass bus= or message_bus= (the same thing), not both")
        self.id = coordinator_id
        self.message_bus: MessageBus = (
            bus if bus is not None else message_bus if message_bus is not None else InMemoryBus())
        self.policy = make_policy(policy, seed)
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.max_attempts = max_attempts
        self.max_lost = max_lost
        self.task_timeout = task_timeout
        self._hub: EventHub[AgentEvent] = EventHub(record=record_events, name="agent event")
        self.event_log: Optional[list[AgentEvent]] = self._hub.log
        self._membership = Membership(emit=self._emit)
        self._book = TaskBook(emit=self._emit, default_attempts=max_attempts,
                              on_finish=self._answer_asker)
        self._host = LocalHost(note=self._note_fault)
        self._outbox: deque[Message] = deque()
        self._handled: list[Message] = []  # inbox messages to acknowledge with the next flush
        self._flushes = GroupCommit(self._flush_round, name=f"{coordinator_id} flush")
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loops: list[asyncio.Task] = []  # the inbox loop and the monitor
        self._started = False
        self._wakeup: Optional[asyncio.Future] = None  # the monitor's
        self._unsubscribe_bus: Optional[Callable[[], Any]] = None
        self._store: Optional[TaskStore] = None  # the bus's, if it is durable
        self._broadcasts: OrderedDict[str, int] = OrderedDict()  # request id -> agents reached
        self._reassigned = 0
        self._heartbeats_logged = 0  # heartbeat events in the log
        self._retried = 0
        self._ignored = 0
        self._t_start: Optional[float] = None
        self._t_stop: Optional[float] = None

    # The chapter's attributes, read-only views of the parts that keep them.

    @property
    def agents(self) -> dict[str, AgentInfo]:
        """Registered agents by id (read it; do not change it)."""
        return self._membership.agents

    @property
    def tasks(self) -> dict[str, TaskRecord]:
        """Every task by id, finished or not."""
        return self._book.tasks

    @property
    def results(self) -> dict[str, Any]:
        """Results of the completed tasks by id."""
        return self._book.results

    @property
    def failures(self) -> dict[str, BaseException]:
        """Errors of the failed tasks by id."""
        return self._book.failures

    @property
    def task_queue(self) -> TaskQueue:
        """The tasks waiting for an agent."""
        return self._book.queue

    # ------------------------------------------------------- registration

    async def register_agent(self, agent: BaseAgent) -> None:
        """Host *agent* in this process (``agent.connect`` calls this); start it if running.

        Its registration goes through the same handler as a REGISTER from
        the bus, at once, so the agent is known when this returns.
        """
        if not isinstance(agent, BaseAgent):
            raise TypeError(f"register_agent() needs a BaseAgent, got {type(agent).__name__}")
        if agent.id in CAPABILITY_NAMES:
            raise ValueError(f"agent id {agent.id!r} is the name of a capability: "
                             "agent.request() could not tell them apart; pick another id")
        if agent.id in self.agents or agent.id in self._host.agents or agent.id == self.id:
            raise ValueError(f"an agent with id {agent.id!r} is already registered")
        bus = self.message_bus
        await bus.open(self.id)
        await bus.open(agent.id)
        self._host.add(agent, bus, self.id, self.heartbeat_interval)
        agent.coordinator = self
        self._on_register(Message(MessageType.REGISTER, agent.id, self.id, Registration(
            capabilities=tuple(c.value for c in AgentCapability if c in agent.capabilities),
            capacity=agent.capacity, incarnation=agent.incarnation), loop_time()), confirm=False)
        if self._started:
            self._host.start(agent.id)
            await self._flush()

    async def unregister_agent(self, agent_id: str) -> None:
        """Stop agent *agent_id* and forget it; its running tasks go to other agents."""
        member = self._member(agent_id)
        info = member.info
        now = self._now()
        if info.status is not OFFLINE:
            self._reassign(self._membership.mark_offline(member, Reason("unregistered"), now),
                           Reason("agent {agent} was unregistered", agent=agent_id), died=False)
        self._membership.remove(agent_id, now)
        for record in [r for r in self.task_queue if r.agent_only == agent_id]:
            self._book.finish(record, FAILED, now, error=InvalidTaskError(
                f"task {record.id!r} may run only on agent {agent_id!r}, which was unregistered"))
        self._outbox.append(Message(AGENT_STATUS, self.id, agent_id, StatusUpdate(
            status=OFFLINE, reason="unregistered", incarnation=info.incarnation), now))
        await self._flush()
        if agent_id in self._host.agents:
            await self._host.remove(agent_id)
            await self.message_bus.close(agent_id)

    async def wait_for_agents(self, count: int = 1, *,
                              timeout: Optional[float] = None) -> list[AgentInfo]:
        """Wait until at least *count* agents are online (worker processes take a
        moment to start); return the online ones.  Raises `TimeoutError` after
        *timeout* seconds."""
        if type(count) is not int or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")

        def online() -> list[AgentInfo]:
            return [info for info in self.agents.values() if info.status is not OFFLINE]

        if len(online()) < count:
            enough = self._bind_loop().create_future()

            def look(event: AgentEvent) -> None:
                if event.kind is EventKind.AGENT and len(online()) >= count:
                    _resolve(enough)

            unsubscribe = self.subscribe(look)
            try:
                async with asyncio.timeout(timeout):
                    await enough
            except TimeoutError:
                raise TimeoutError(f"{len(online())} of {count} agents came online within "
                                   f"{timeout:g} s") from None
            finally:
                unsubscribe()
        return online()

    def find_agents(self, capability: AgentCapability | str) -> list[AgentInfo]:
        """The registered agents with *capability* (any status), in registration order."""
        return list(self._membership.capable(parse_capability(capability)))

    # ------------------------------------------------------------ tasks

    async def assign_task(
        self,
        task: Mapping[str, Any],
        *,
        agent: Optional[str] = None,
        deadline: Optional[float] = None,
        max_attempts: Optional[int] = None,
        task_id: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> str:
        """Queue *task* for an agent with capability ``task["type"]``; return its id at once.

        ``agent``: only that agent may run it.  ``deadline``: seconds from now
        by which it must finish.  ``max_attempts``: failed attempts allowed
        (default: the coordinator's).  ``task_id``: your own id instead of
        ``"task-N"``; the same task submitted again under the same id (by a
        submitter that restarted) is the same task, and its id comes back.
        ``timeout``: seconds one attempt may run (default: the coordinator's
        ``task_timeout``), after which it fails with `TaskTimeoutError`.
        Raises `InvalidTaskError` for a task that can never run, or for
        another task under an id that is taken.
        """
        if task_id is not None:
            if not isinstance(task_id, str) or not task_id:
                raise InvalidTaskError(f"a task id must be a non-empty string, got {task_id!r}")
            known = self.tasks.get(task_id)
            if known is not None:
                if known.reply_to is None and isinstance(task, Mapping) \
                        and as_json_data(dict(task)) == as_json_data(dict(known.task)):
                    return task_id
                raise InvalidTaskError(f"duplicate task id {task_id!r}: it names another task")
        record = self._submit(task, task_id=task_id, agent=agent, deadline=deadline,
                              max_attempts=max_attempts, timeout=timeout)
        if self._started and self._membership.free(record.route):  # else it waits
            self._dispatch((record.route,))
        if self._outbox or self._book.unsaved:
            await self._flush()  # saved before its id is returned, when a store keeps tasks
        return record.id

    async def result(self, task_id: str, timeout: Optional[float] = None) -> Any:
        """Wait for task *task_id*; return its result or raise its error.

        Raises `TimeoutError` if it has not finished after *timeout* seconds
        (the task itself goes on).
        """
        record = self._book.get(task_id)
        try:
            await self._book.wait([record], timeout)
        except TimeoutError:
            raise TimeoutError(
                f"task {task_id!r} did not finish within {timeout:g} s "
                f"(it is {record.state.value})"
            ) from None
        if record.state is FAILED:
            _raise_error_of(record)
        return record.result

    async def gather(self, task_ids: Iterable[str], *, return_exceptions: bool = False) -> list[Any]:
        """Wait for all of *task_ids*; return their results in order.

        Then the first failed task (in that order) raises its error, unless
        *return_exceptions* puts the errors in the list instead.
        """
        if isinstance(task_ids, str):
            raise TypeError(f"gather() takes a list of task ids, not one id {task_ids!r}: "
                            "use gather([task_id]) or result(task_id)")
        records = [self._book.get(task_id) for task_id in task_ids]
        await self._book.wait(records)
        results = []
        for record in records:
            if record.state is COMPLETED:
                results.append(record.result)
            elif return_exceptions:
                results.append(record.error)
            else:
                _raise_error_of(record)
        return results

    async def join(self) -> None:
        """Wait until every task submitted so far has finished."""
        await self._book.wait(list(self.tasks.values()))

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
            try:
                await self._flush()
            except Exception as exc:  # kept: the next flush tries again
                self._note_flush_failure(exc)
            times = [t for t in (self._membership.next_silence(self.heartbeat_timeout),
                                 self._book.next_deadline()) if t is not None]
            self._wakeup = wakeup = loop.create_future()
            timer = loop.call_at(min(times), _resolve, wakeup) if times else None
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
        counts = self._book.counts
        agents = {}
        for agent_id, member in self._membership.members.items():
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
            "latency": percentiles(self._book.latencies),
        }

    def __repr__(self) -> str:
        c = self._book.counts
        offline = sum(info.status is OFFLINE for info in self.agents.values())
        return (
            f"<Coordinator {'running' if self._started else 'stopped'} agents={len(self.agents)} "
            f"offline={offline} queued={c[QUEUED]} running={c[RUNNING]} "
            f"completed={c[COMPLETED]} failed={c[FAILED]} policy={self.policy!r}>"
        )

    # ------------------------------------------------------ submitting

    def _submit(self, task: Mapping[str, Any], *, task_id: Optional[str] = None,
                agent: Optional[str] = None, deadline: Optional[float] = None,
                max_attempts: Optional[int] = None, reply_to: Optional[str] = None,
                timeout: Optional[float] = None) -> TaskRecord:
        if timeout is None:
            timeout = self.task_timeout
        capability = check_task(task, None if agent is None else self.agents.get(agent),
                                agent, deadline, timeout)
        if max_attempts is not None:
            check_attempts(max_attempts)
        if self.message_bus.codec is not None:
            check_wire_task(task)
        record = self._book.submit(task, capability=capability, now=self._now(), task_id=task_id,
                                   agent=agent, deadline=deadline, max_attempts=max_attempts,
                                   reply_to=reply_to, timeout=timeout)
        if record.deadline is not None:
            self._wake_monitor()
        return record

    def _dispatch(self, routes: Iterable[Route]) -> None:
        """Start waiting tasks of *routes* on free agents; queue their TASK_REQUESTs."""
        if not self._started:
            return
        now = self._loop.time()
        timed = False
        for record, info, attempt in dispatch(routes, self._book, self._membership,
                                              self.policy, now):
            self._outbox.append(Message(TASK_REQUEST, self.id, info.id, TaskRequest(
                task_id=record.id, task=record.task, attempt=attempt,
                incarnation=info.incarnation), now))
            timed = timed or record.timeout is not None
        if timed:
            self._wake_monitor()  # an attempt timeout may come before its next timer

    def _reassign(self, held: dict[str, int], reason: Reason, *, died: bool = True) -> None:
        """The attempts in *held* were taken from their agent: back to the queue.

        If the agent *died* doing them, each counts as lost, and a task lost
        ``max_lost`` times fails instead (`TaskLostError`).
        """
        tasks, now = self.tasks, self._now()
        records = [tasks[task_id] for task_id, attempt in held.items()
                   if tasks[task_id].state is RUNNING and tasks[task_id].attempt == attempt]
        if died:
            for record in records:
                record.lost += 1
                if record.lost >= self.max_lost:
                    self._book.finish(record, FAILED, now, error=TaskLostError(
                        f"task {record.id!r} was lost {record.lost} times with the agent "
                        f"running it (last {record.agent!r}); it may be what makes them crash"))
            records = [record for record in records if not record.done]
        if records:
            self._reassigned += len(records)
            self._book.requeue(records, reason, now)
            self._dispatch(dict.fromkeys(record.route for record in records))

    # ---------------------------------------------------------- inbox

    async def _serve(self) -> None:
        """The inbox loop: handle each message; send what they caused; then acknowledge them."""
        bus, me = self.message_bus, self.id
        receive, waiting = bus.receive, bus.waiting
        handlers = {
            TASK_RESULT: self._on_result,
            MessageType.HEARTBEAT: self._on_heartbeat,
            TASK_REQUEST: self._on_request,
            MessageType.REGISTER: self._on_register,
            MessageType.GOODBYE: self._on_goodbye,
            MessageType.BROADCAST: self._on_broadcast,
        }
        while True:
            message = await receive(me)
            try:
                handler = handlers.get(message.type)
                if handler is None:
                    raise ValueError(f"the coordinator does not take {message.type} messages")
                handler(message)
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                # A malformed message (buggy or foreign agent code) must not stop
                # the inbox loop; the handlers check a message before they change anything.
                what = getattr(message.type, "value", message.type)
                self._note_ignored(message.sender, Reason(
                    "malformed {what} message: {error}", what=what, error=error_summary(exc)))
            self._handled.append(message)
            # One flush, with the acknowledgements, for a whole burst: nobody
            # can read these messages before this loop waits anyway.
            if not waiting(me):
                try:
                    await self._flush()
                except Exception as exc:  # kept: the next flush tries again
                    self._note_flush_failure(exc)

    def _on_register(self, message: Message, *, confirm: bool = True) -> None:
        """Register (or renew) the sender; answer with its status unless *confirm*
        is False (a hosted agent, answered when its own REGISTER arrives)."""
        registration, sender = message.content, message.sender
        if not isinstance(registration, Registration):
            raise TypeError(f"a REGISTER carries a Registration, got {type(registration).__name__}")
        now = self._now()
        try:
            capabilities = [parse_capability(c) for c in registration.capabilities]
            if not capabilities or type(registration.capacity) is not int \
                    or registration.capacity < 1 or sender == self.id \
                    or sender in CAPABILITY_NAMES:
                raise InvalidTaskError("it needs capabilities, a capacity >= 1 and its own id "
                                       "(not the coordinator's, not a capability's name)")
        except InvalidTaskError as exc:
            self._outbox.append(Message(AGENT_STATUS, self.id, sender, StatusUpdate(
                status=OFFLINE, reason=f"rejected: {exc}",
                incarnation=registration.incarnation), now))
            return
        member, held = self._membership.register(sender, capabilities, registration.capacity,
                                                 registration.incarnation, now)
        if held is not None:
            self._reassign(held, Reason("agent {agent} restarted", agent=sender))
        if confirm:
            self._confirm(member, now)
        else:
            self._wake_monitor()
            self._dispatch(member.routes)

    def _confirm(self, member: Member, now: float) -> None:
        """Tell the agent it is online, how often to beat, and which attempts to drop."""
        info = member.info
        stale, member.stale = tuple(member.stale.items()), {}
        self._outbox.append(Message(AGENT_STATUS, self.id, info.id, StatusUpdate(
            status=info.status, stale=stale, heartbeat_interval=self.heartbeat_interval,
            incarnation=info.incarnation), now))
        self._wake_monitor()
        self._dispatch(member.routes)

    def _on_heartbeat(self, message: Message) -> None:
        member = self._membership.members.get(message.sender)
        beat = message.content
        if member is None:
            if isinstance(beat, Heartbeat):  # alive, but unknown here: this coordinator restarted
                self._outbox.append(Message(AGENT_STATUS, self.id, message.sender, StatusUpdate(
                    status=OFFLINE, reason=REGISTER_AGAIN, incarnation=beat.incarnation),
                    self._now()))
            return
        incarnation = beat.incarnation if isinstance(beat, Heartbeat) else ""
        if incarnation and incarnation != member.info.incarnation:
            return  # from an earlier run of the agent
        now = self._now()
        back = self._membership.heard_from(member, now)
        self._hub.emit(AgentEvent(time=now, kind=EventKind.HEARTBEAT, agent_id=message.sender))
        self._heartbeats_logged += 1
        if self._heartbeats_logged > 2 * HEARTBEATS_KEPT * len(self.agents):
            self._drop_old_heartbeats()
        if back:
            self._confirm(member, now)

    def _drop_old_heartbeats(self) -> None:
        """Keep each agent's last HEARTBEATS_KEPT heartbeat events in the log, and
        every other event.  Run once the log holds twice that many, so each run's
        cost (one pass over the log) is shared by as many heartbeats."""
        log = self._hub.log
        if log is None:  # nothing recorded
            self._heartbeats_logged = 0
            return
        seen: Counter[str] = Counter()
        kept = []
        for event in reversed(log):
            if event.kind is EventKind.HEARTBEAT:
                seen[event.agent_id] += 1
                if seen[event.agent_id] > HEARTBEATS_KEPT:
                    continue
            kept.append(event)
        kept.reverse()
        log[:] = kept  # in place: event_log is the same list
        self._heartbeats_logged = sum(min(n, HEARTBEATS_KEPT) for n in seen.values())

    def _on_goodbye(self, message: Message) -> None:
        member = self._membership.members.get(message.sender)
        goodbye = message.content
        if not isinstance(goodbye, Goodbye):
            raise TypeError(f"a GOODBYE carries a Goodbye, got {type(goodbye).__name__}")
        if member is None or member.info.status is OFFLINE \
                or goodbye.incarnation not in ("", member.info.incarnation):
            return  # said already, or from an earlier run
        held = self._membership.mark_offline(member, Reason("said goodbye"), self._now())
        member.info.incarnation = ""  # that run is over: its late heartbeats do not count
        self._reassign(held, Reason("agent {agent} stopped", agent=message.sender), died=False)

    def _on_result(self, message: Message) -> None:
        outcome, sender = message.content, message.sender
        if not isinstance(outcome, TaskResult):
            raise TypeError(f"a TASK_RESULT carries a TaskResult, got {type(outcome).__name__}")
        member = self._membership.members.get(sender)
        record = self.tasks.get(outcome.task_id)
        now = self._loop.time()
        # Did *sender* hold this attempt?  Then its slot is free now, whatever the outcome.
        if member is None or not self._membership.gave_back(member, outcome.task_id,
                                                             outcome.attempt):
            self._ignore(sender, outcome, record, now)
            return
        if record.state is not RUNNING or record.attempt != outcome.attempt:
            self._ignore(sender, outcome, record, now)
        else:
            member.latency_sum += now - record.started_at
            member.latency_count += 1
            if outcome.error is None:
                member.info.tasks_completed += 1
                self._book.finish(record, COMPLETED, now, outcome.result)
            else:
                self._on_failure(record, member.info, outcome.error, now)
        self._dispatch(member.routes)

    def _on_failure(self, record: TaskRecord, info: AgentInfo, error: BaseException,
                    now: float) -> None:
        info.tasks_failed += 1
        record.failures += 1
        record.failed_on |= {info.id}
        record.error = error
        if record.failures < record.max_attempts and not isinstance(error, PermanentTaskError):
            self._retried += 1
            self._book.requeue([record], Reason(
                "attempt {attempt} failed on {agent}: {error}",
                attempt=record.attempt, agent=info.id, error=error_summary(error)), now)
            self._dispatch((record.route,))
        else:
            self._book.finish(record, FAILED, now, error=error)

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
        self._note_ignored(sender, Reason("late or duplicate result: {why}", why=why),
                           task_id=outcome.task_id, attempt=outcome.attempt)

    def _on_request(self, message: Message) -> None:
        """An agent asked for a task (agent.request): queue it, answer when it ends."""
        request, sender = message.content, message.sender
        if not isinstance(request, TaskRequest):
            raise TypeError(f"a TASK_REQUEST carries a TaskRequest, got {type(request).__name__}")
        if type(request.task_id) is not str or not request.task_id:
            raise ValueError(f"a TASK_REQUEST needs a non-empty string task_id, "
                             f"got {request.task_id!r}")
        known = self.tasks.get(request.task_id)
        if known is not None and known.reply_to == sender:  # delivered again
            if known.done:
                self._answer_asker(known)
            return
        task, agent = request.task, None
        try:
            if not isinstance(task, Mapping):
                raise InvalidTaskError(f"a task must be a dict, got {type(task).__name__}")
            target = request.target
            if target in self.agents:
                agent = target
            elif target is not None:
                try:
                    task = {**task, "type": parse_capability(target)}
                except InvalidTaskError:
                    raise InvalidTaskError(f"request target {target!r} is neither a registered "
                                           "agent nor a capability") from None
            record = self._submit(task, task_id=request.task_id, agent=agent,
                                  deadline=request.deadline, reply_to=sender)
        except InvalidTaskError as exc:
            self._outbox.append(Message(TASK_RESULT, self.id, sender, TaskResult(
                task_id=request.task_id, attempt=0, error=exc), self._now()))
        else:
            self._dispatch((record.route,))

    def _answer_asker(self, record: TaskRecord) -> None:
        """A task ended: if an agent asked for it, send it the outcome."""
        if record.reply_to is not None:
            self._outbox.append(Message(TASK_RESULT, self.id, record.reply_to, TaskResult(
                task_id=record.id, attempt=record.attempt, result=record.result,
                error=record.error if record.state is FAILED else None), record.finished_at))

    def _on_broadcast(self, message: Message) -> None:
        note, sender = message.content, message.sender
        if not isinstance(note, Broadcast):
            raise TypeError(f"a BROADCAST carries a Broadcast, got {type(note).__name__}")
        now = self._now()
        reached = self._broadcasts.get(note.request_id)
        if reached is None:  # not sent yet (else this is the same broadcast again)
            peers = self.agents.values() if note.capability is None \
                else self._membership.capable(parse_capability(note.capability))
            # Online peers only: an offline one may never read its inbox again.
            receivers = [info.id for info in peers
                         if info.id != sender and info.status is not OFFLINE]
            for receiver in receivers:
                self._outbox.append(Message(MessageType.DIRECT, sender, receiver, note.content, now))
            reached = self._broadcasts[note.request_id] = len(receivers)
            if len(self._broadcasts) > REMEMBERED_BROADCASTS:
                self._broadcasts.popitem(last=False)
        self._outbox.append(Message(TASK_RESULT, self.id, sender, TaskResult(
            task_id=note.request_id, attempt=0, result=reached), now))

    def _on_bus_event(self, event: BusEvent) -> None:
        if event.kind == "malformed":
            self._note_ignored(None, Reason("malformed entry in the inbox of {address}: {detail}",
                                            address=event.address, detail=event.detail))
        else:
            self._hub.emit(AgentEvent(time=self._now(), kind=EventKind.BUS, agent_id=event.address,
                                      reason=Reason("bus {kind}: {detail}", kind=event.kind,
                                                    detail=event.detail)))

    def _note_ignored(self, sender: Optional[str], reason: Reason, *,
                      task_id: Optional[str] = None, attempt: int = 0) -> None:
        self._ignored += 1
        self._hub.emit(AgentEvent(time=self._now(), kind=EventKind.IGNORED, task_id=task_id,
                                  agent_id=sender, attempt=attempt, reason=reason))

    def _note_flush_failure(self, error: Exception) -> None:
        self._hub.emit(AgentEvent(time=self._now(), kind=EventKind.BUS, reason=Reason(
            "could not save or send ({error}); trying again with the next message",
            error=error_summary(error))))

    def _emit(self, event: AgentEvent) -> None:
        # Looked up on each call: the hub swaps its emit when listeners come and go.
        self._hub.emit(event)

    def _note_fault(self, agent_id: str, kind: EventKind, reason: Reason) -> None:
        self._hub.emit(AgentEvent(time=self._now(), kind=kind, agent_id=agent_id, reason=reason))

    # ------------------------------------------------------- time rules

    def _expire(self, now: float) -> None:
        timeout = self.heartbeat_timeout
        membership = self._membership
        # All of them go offline before any task moves, so none moves to one of them.
        lost = [(m, membership.mark_offline(m, Reason(
                    "no heartbeat for {seconds:g} s", seconds=now - m.info.last_heartbeat), now))
                for m in membership.silent(now, timeout)]
        for member, held in lost:
            self._reassign(held, Reason("agent {agent} went offline", agent=member.info.id))
        for record in self._book.expired(now):
            self._book.finish(record, FAILED, now, error=self._deadline_error(record))
        for record in self._book.overdue(now):
            self._time_out(record, now)

    def _time_out(self, record: TaskRecord, now: float) -> None:
        """The current attempt of *record* ran past its timeout: tell its agent
        to drop it, free the slot, and count a failed attempt."""
        member, attempt = self._membership.members[record.agent], record.attempt
        info = member.info
        self._membership.gave_back(member, record.id, attempt)
        self._outbox.append(Message(AGENT_STATUS, self.id, info.id, StatusUpdate(
            status=info.status, stale=((record.id, attempt),), incarnation=info.incarnation), now))
        self._on_failure(record, info, TaskTimeoutError(
            f"attempt {attempt} of task {record.id!r} ran longer than its {record.timeout:g} s "
            f"timeout on {info.id!r}"), now)
        self._dispatch(member.routes)

    def _deadline_error(self, record: TaskRecord) -> TaskDeadlineError:
        seconds = record.deadline - record.submitted_at
        capability = record.capability.value
        agents = [a for a in self._membership.capable(record.capability)
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

    def _wake_monitor(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    # -------------------------------------------------------- plumbing

    async def _start(self) -> None:
        if self._started:
            raise RuntimeError("this coordinator is already running")
        loop = self._bind_loop()
        await self.message_bus.open(self.id)
        self._store = store = self.message_bus.task_store(self.id)
        if store is not None:
            rows = await store.load() if not self.tasks else []
            self._book.unsaved = {}
            self._book.restore(rows, loop.time())
        now = loop.time()
        self._started = True
        self._t_start, self._t_stop = now, None
        self._unsubscribe_bus = self.message_bus.subscribe(self._on_bus_event)
        for info in self.agents.values():
            info.last_heartbeat = now  # nobody could send one before
        self._host.start_all()
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
        for task in self._loops:
            task.cancel()
        await asyncio.gather(self._host.stop_all(), *self._loops, return_exceptions=True)
        await self._flushes.wait_idle()  # a flush under way ends before the last save
        self._loops, self._wakeup = [], None
        if self._unsubscribe_bus is not None:
            self._unsubscribe_bus()
            self._unsubscribe_bus = None
        now = self._loop.time()
        self._t_stop = now
        for member in self._membership.members.values():  # nobody watches them now
            if member.info.status is not OFFLINE:
                self._membership.mark_offline(member, Reason("the coordinator stopped"), now)
        if self._store is not None:
            await self._save()  # what ended before the stop; unfinished tasks stay unfinished there
            self._book.unsaved = None
            self._store = None
        self._membership.free_all_slots()
        for record in list(self.tasks.values()):
            if not record.done:
                self._book.finish(record, FAILED, now, error=CoordinatorStoppedError(
                    f"the coordinator stopped before task {record.id!r} finished"))
        self._outbox.clear()  # answers to agents that have stopped
        self._handled.clear()  # not acknowledged: a durable bus delivers them again
        self._hub.close_streams()

    async def _flush(self) -> None:
        """Save what changed (when a store keeps tasks), send the queued messages
        in order, then acknowledge the inbox messages that caused them.

        A group commit (`GroupCommit`): callers that come while a flush is
        under way share the next one, so many concurrent ``assign_task``
        calls cost one save and one round trip.  If the bus fails, the error
        is raised in every caller of that flush, and what it took is queued
        again for the next one.
        """
        await self._flushes.commit()

    async def _flush_round(self) -> None:
        """One flush.  It takes what is queued at one instant, so every message it
        sends is about a task it saves (or saved before), and every message it
        acknowledges has had what it caused sent first."""
        outbox = self._outbox
        batch, acks, self._handled = list(outbox), self._handled, []
        outbox.clear()
        try:
            await self._save()
            await self.message_bus.send_and_acknowledge(batch, self.id, acks)
        except BaseException:
            outbox.extendleft(reversed(batch))
            self._handled[:0] = acks
            raise

    async def _save(self) -> None:
        """Save the tasks submitted or ended since the last save (when a store keeps them)."""
        book = self._book
        if not book.unsaved or self._store is None:
            return
        records, book.unsaved = book.unsaved, {}
        try:
            now = self._now()
            await self._store.save([book.row(record, now) for record in records.values()])
        except BaseException:
            records.update(book.unsaved)  # changed again meanwhile: the newer row wins
            book.unsaved = records
            raise

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._started:
                raise RuntimeError("this coordinator is running on another event loop")
            self._loop = loop
        return loop

    def _now(self) -> float:
        return self._loop.time() if self._started else loop_time()

    def _member(self, agent_id: str) -> Member:
        try:
            return self._membership.members[agent_id]
        except KeyError:
            raise KeyError(f"no agent {agent_id!r} is registered") from None

    def _elapsed(self) -> float:
        if self._t_start is None:
            return 0.0
        end = self._loop.time() if self._started else self._t_stop
        return max(0.0, end - self._t_start)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
