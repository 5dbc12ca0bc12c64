"""BaseAgent: the worker side of the agent system.

An agent knows two things: a message bus and the coordinator's address on
it.  Everything else arrives in its inbox (see `course_lib.agents.protocol`).
Its `run` loop:

1. opens its inbox and sends REGISTER (a fresh *incarnation* each run, so a
   restarted agent is told from its old self);
2. sends a HEARTBEAT every ``heartbeat_interval`` (the coordinator says how
   often when it confirms the registration);
3. reads the inbox in order.  Each TASK_REQUEST starts an asyncio task of
   its own (a *job*), so tasks run side by side up to ``capacity`` while
   the inbox is still read: answers to `request` arrive while a job waits on
   them.  A job sends its TASK_RESULT and only then acknowledges its
   request, so a request whose job never ended comes again to a restarted
   agent (at-least-once delivery).

Duplicates are expected: a request for an attempt already running is
skipped, one already answered is answered again from a short memory, and a
DIRECT note is handled once per message id.

Hosted in the coordinator's process, ``await agent.connect(coordinator)``
does all of this for you; in a worker process, `attach` a bus and call
`run` (``python -m course_lib.agents worker`` does).

The fault-injection hooks `crash`, `pause` and `fail_next` exist for
teaching: they make failover, late results and retries happen on demand.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import math
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Optional, Union

from ..i18n import Reason
from .bus import MessageBus
from .codec import NotSerializableError
from .protocol import (
    Broadcast,
    Goodbye,
    Heartbeat,
    REGISTER_AGAIN,
    Message,
    MessageType,
    Registration,
    StatusUpdate,
    TaskRequest,
    TaskResult,
    new_token,
)
from .types import (
    AgentCapability,
    AgentStatus,
    EventKind,
    InjectedFault,
    InvalidTaskError,
    TaskCancelledError,
)

if TYPE_CHECKING:
    from .coordinator import Coordinator

__all__ = ["BaseAgent", "AgentRejectedError", "current_agent"]

TASK_REQUEST, TASK_RESULT = MessageType.TASK_REQUEST, MessageType.TASK_RESULT
AGENT_STATUS, DIRECT = MessageType.AGENT_STATUS, MessageType.DIRECT
REMEMBERED = 256  # answered attempts and DIRECT ids kept, to recognise duplicates

_current_agent: contextvars.ContextVar[Optional[BaseAgent]] = contextvars.ContextVar(
    "course_lib_current_agent", default=None)


def current_agent() -> Optional[BaseAgent]:
    """The agent whose loop (or one of whose jobs) is running now, else None."""
    return _current_agent.get()


class AgentRejectedError(RuntimeError):
    """The coordinator refused this agent's registration (the reason says why)."""


class BaseAgent(ABC):
    """An agent with capabilities; subclasses implement `process_task`.

    Example use::

        class Echo(BaseAgent):
            def __init__(self, agent_id: str) -> None:
                super().__init__(agent_id, {AgentCapability.SEARCH})

            async def process_task(self, task: dict) -> Any:
                return task["query"]

        async with Coordinator() as coordinator:
            await Echo("echo-1").connect(coordinator)   # the coordinator runs it
            task_id = await coordinator.assign_task({"type": "search", "query": "hi"})
            await coordinator.result(task_id)           # 'hi'

    ``capacity`` is how many tasks it runs at once.  ``received`` keeps the
    last DIRECT messages that the default `handle_message` was given.
    """

    def __init__(
        self, agent_id: str, capabilities: Iterable[AgentCapability], *, capacity: int = 1
    ) -> None:
        if not isinstance(agent_id, str) or not agent_id:
            raise ValueError(f"an agent id must be a non-empty string, got {agent_id!r}")
        capabilities = set(capabilities)
        if not capabilities or not all(isinstance(c, AgentCapability) for c in capabilities):
            raise ValueError(f"agent {agent_id!r} needs a set of AgentCapability, got {capabilities!r}")
        if type(capacity) is not int or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self.id = agent_id
        self.capabilities = capabilities
        self.capacity = capacity
        self.coordinator: Optional[Coordinator] = None  # set by connect(), in-process only
        self.bus: Optional[MessageBus] = None
        self.coordinator_id = "coordinator"
        self.incarnation = ""  # a fresh token each time run() starts
        self.running = False
        self.received: deque[Message] = deque(maxlen=100)
        self._heartbeat_interval: Optional[float] = None
        self._request_prefix: Optional[str] = None
        self._incarnation: Optional[str] = None
        self._task: Optional[asyncio.Task] = None  # run()
        self._heartbeats: Optional[asyncio.Task] = None
        self._helpers: set[asyncio.Task] = set()  # short sends started from the inbox loop
        self._closing = False  # stop() was called: take no new tasks
        self._jobs: dict[tuple[str, int], asyncio.Task] = {}  # (task id, attempt) -> job
        self._dropped: set[tuple[str, int]] = set()  # jobs cancelled as stale
        self._answered: OrderedDict[tuple[str, int], TaskResult] = OrderedDict()
        self._seen_notes: OrderedDict[str, None] = OrderedDict()
        self._requests: dict[str, asyncio.Future] = {}  # request id -> answer
        self._request_ids = itertools.count(1)
        self._stopped_because: Optional[StatusUpdate] = None
        self._fault_listeners: list[Callable[[EventKind, Reason], Any]] = []
        self._fail_next = 0
        self._awake = asyncio.Event()  # cleared while paused
        self._awake.set()
        self._resume: Optional[asyncio.TimerHandle] = None

    # ---------------------------------------------------------- chapter API

    async def connect(self, coordinator: Coordinator) -> None:
        """Register with *coordinator* in this process; it runs `run` (now, or when it starts).

        An agent serves one coordinator: connecting it to a second one is an
        error (unregister it from the first).
        """
        previous = self.coordinator
        if previous is not None and previous is not coordinator:
            raise RuntimeError(
                f"agent {self.id!r} is connected to coordinator {previous.id!r} already; "
                "an agent serves one coordinator (unregister_agent it there first)")
        self.coordinator = coordinator
        try:
            await coordinator.register_agent(self)
        except BaseException:
            self.coordinator = previous
            raise

    @abstractmethod
    async def process_task(self, task: dict[str, Any]) -> Any:
        """Do *task* and return its result; raising fails this attempt."""

    async def run(self) -> None:
        """The agent's loop: register, send heartbeats, read the inbox and run tasks.

        It returns when the coordinator removes the agent, and stops (with
        every job) when cancelled.  Called while the loop already runs in
        another task (``asyncio.gather(coordinator.run(), agent.run())`` in
        the chapter's style), it waits for that loop to end instead of
        starting a second one.  Raises `AgentRejectedError` if the
        coordinator refuses the registration.
        """
        bus = self._attached()
        current = asyncio.current_task()
        if self.running and self._task is not None and self._task is not current:
            await asyncio.wait([self._task])  # cancelling this wait leaves that loop alone
            return
        self.running = True
        self._task = current
        self.incarnation = self._incarnation or new_token()
        self._stopped_because = None
        self._closing = False
        _current_agent.set(self)  # this task's context, and its jobs'
        try:
            await bus.open(self.id)
            # The coordinator's inbox too: a REGISTER sent before the coordinator's
            # first start would otherwise be dropped (no inbox there yet).
            await bus.open(self.coordinator_id)
            await self._register()
            if self._heartbeat_interval is not None:
                self._start_heartbeats()
            await self._read_inbox(bus)
        finally:
            self._halt()
            await asyncio.gather(*self._children(), return_exceptions=True)
            self._jobs.clear()
            self._helpers.clear()
            self._dropped.clear()
            self._heartbeats = None
        update = self._stopped_because
        if update is not None and update.reason.startswith("rejected"):
            raise AgentRejectedError(f"agent {self.id!r}: {update.reason}")

    async def send_message(self, message: Message) -> None:
        """Send *message* on the bus (held back while paused)."""
        bus = self._attached()
        if message.sender != self.id:
            raise ValueError(f"agent {self.id!r} cannot send a message as {message.sender!r}")
        if not self._awake.is_set():
            await self._awake.wait()
        await bus.send(message)

    # ------------------------------------------------------- outside a coordinator

    def attach(self, bus: MessageBus, coordinator_id: str = "coordinator", *,
               heartbeat_interval: Optional[float] = None,
               request_prefix: Optional[str] = None,
               incarnation: Optional[str] = None) -> None:
        """Use *bus* and the coordinator at address *coordinator_id*; then call `run`.

        An in-process host, which knows more, also passes:
        ``heartbeat_interval``, to start heartbeats before the coordinator
        confirms the registration; ``request_prefix``, to start the ids of
        this agent's requests (by default the agent id and its incarnation,
        unique across restarts); ``incarnation``, kept across runs of this
        object (by default each run is a new incarnation).
        """
        if self.running:
            raise RuntimeError(f"agent {self.id!r} is running; attach it before run()")
        self.bus = bus
        self.coordinator_id = coordinator_id
        self._heartbeat_interval = heartbeat_interval
        self._request_prefix = request_prefix
        self._incarnation = incarnation
        if incarnation is not None:
            self.incarnation = incarnation

    async def say_goodbye(self, reason: str = "") -> None:
        """Tell the coordinator this agent stops (its tasks go to other agents)."""
        await self._send(self.coordinator_id, MessageType.GOODBYE,
                         Goodbye(incarnation=self.incarnation, reason=reason))

    async def stop(self, grace: float = 10.0) -> None:
        """Leave cleanly: take no new task, give the running ones up to *grace*
        seconds to finish and answer, say goodbye (the coordinator gives what
        is left to other agents), and end `run`.  SIGTERM and Ctrl-C in a
        worker process call this."""
        if not self.running:
            return
        self._closing = True
        jobs = list(self._jobs.values())
        if jobs and grace > 0:
            await asyncio.wait(jobs, timeout=grace)
        try:
            await self.say_goodbye("stopping")
        finally:
            loop_task = self._task
            self._halt()
            if loop_task is not None and loop_task is not asyncio.current_task():
                await asyncio.gather(loop_task, return_exceptions=True)

    def start(self) -> asyncio.Task:
        """Run `run` in a new task (or return the task already running it).

        The agent counts as running from now on, so its fault hooks work
        before the task has taken its first step.
        """
        if self.running and self._task is not None and not self._task.done():
            return self._task
        self._attached()
        self._task = task = asyncio.get_running_loop().create_task(self.run(), name=f"agent {self.id}")
        self.running = True
        task.add_done_callback(self._ended)  # also when it is cancelled before its first step
        return task

    def _ended(self, task: asyncio.Task) -> None:
        if self._task is task:
            self.running = False
            self._task = None

    # ------------------------------------------------------ talking to peers

    async def send(self, receiver: str, content: Any) -> None:
        """Send a DIRECT message with *content* to agent *receiver*."""
        await self._send(receiver, DIRECT, content)

    async def broadcast(self, content: Any, capability: Optional[AgentCapability] = None, *,
                        timeout: Optional[float] = None) -> int:
        """Send *content* to every other registered agent (with *capability*, if given).

        The coordinator passes it on; returns how many agents it reached.
        """
        request_id = self._next_request_id("broadcast")
        return await self._ask(request_id, MessageType.BROADCAST, Broadcast(
            request_id=request_id, content=content,
            capability=None if capability is None else capability.value), timeout, "broadcast")

    async def request(
        self,
        target: Union[AgentCapability, str],
        payload: Mapping[str, Any],
        *,
        timeout: Optional[float] = None,
    ) -> Any:
        """Have another agent do a task, wait for it, and return its result.

        *target* is a capability (any agent that has it; load balancing,
        retries and failover apply) or an agent id (that agent only; its
        ``"type"`` may be left out when it has one capability).  The request
        is a task like any other, with a deadline of *timeout* seconds.
        Raises the task's error, or `TimeoutError`.
        """
        if isinstance(target, AgentCapability):
            target = target.value
        elif not isinstance(target, str):
            raise InvalidTaskError(f"request target must be a capability or an agent id, got {target!r}")
        task_id = self._next_request_id("request")
        return await self._ask(task_id, TASK_REQUEST, TaskRequest(
            task_id=task_id, task=dict(payload), target=target, deadline=timeout,
            incarnation=self.incarnation), timeout, f"request {task_id} to {target!r}")

    async def handle_message(self, message: Message) -> None:
        """Handle a DIRECT message; by default keep it in `received`.

        It runs inside the inbox loop, so it should be quick.
        """
        self.received.append(message)

    # ------------------------------------------------------ fault injection

    def crash(self) -> None:
        """Die now, mid-task: no more results, messages or heartbeats.  Not undoable."""
        if not self.running:
            raise RuntimeError(f"agent {self.id!r} is not running, so it cannot crash")
        self._halt()
        self._note(EventKind.CRASH, Reason("crash()"))

    def pause(self, seconds: float) -> None:
        """Go silent for *seconds*: read no messages, send nothing, no heartbeats.

        Tasks already running go on; their results wait until the pause ends.
        A new pause replaces the rest of the current one.
        """
        if not self.running:
            raise RuntimeError(f"agent {self.id!r} is not running, so it cannot pause")
        if not seconds > 0:
            raise ValueError(f"pause() needs a positive number of seconds, got {seconds!r}")
        if self._resume is not None:
            self._resume.cancel()
        self._awake.clear()
        self._resume = asyncio.get_running_loop().call_later(seconds, self._wake)
        self._note(EventKind.PAUSE, Reason("pause({seconds:g})", seconds=seconds))

    def fail_next(self, n: int = 1) -> None:
        """Make the next *n* tasks this agent starts raise `InjectedFault`."""
        if type(n) is not int or n < 0:
            raise ValueError(f"fail_next() needs an integer >= 0, got {n!r}")
        self._fail_next = n

    def on_fault(self, callback: Callable[[EventKind, Reason], Any]) -> Callable[[], None]:
        """Call ``callback(kind, reason)`` when a fault hook fires (CRASH, PAUSE,
        RESUME); returns an unsubscribe function.  The hosting coordinator logs them."""
        self._fault_listeners.append(callback)
        return lambda: callback in self._fault_listeners and self._fault_listeners.remove(callback)

    @property
    def paused(self) -> bool:
        return not self._awake.is_set()

    def __repr__(self) -> str:
        state = "paused" if self.running and self.paused else "running" if self.running else "stopped"
        capabilities = ",".join(c.value for c in AgentCapability if c in self.capabilities)
        return (
            f"<{type(self).__name__} {self.id!r} {state} capabilities={capabilities} "
            f"jobs={len(self._jobs)}/{self.capacity} requests={len(self._requests)}>"
        )

    # ------------------------------------------------------------- inside

    def _attached(self) -> MessageBus:
        if self.bus is None:
            raise RuntimeError(
                f"agent {self.id!r} is not connected; await agent.connect(coordinator) "
                "(or agent.attach(bus) in a worker process)")
        return self.bus

    def _next_request_id(self, kind: str) -> str:
        prefix = self._request_prefix or f"{self.id}/{self.incarnation}"
        return f"{prefix}/{kind}-{next(self._request_ids)}"

    async def _send(self, receiver: str, kind: MessageType, content: Any) -> None:
        await self.send_message(Message(kind, self.id, receiver, content,
                                        asyncio.get_running_loop().time()))

    async def _ask(self, request_id: str, kind: MessageType, content: Any,
                   timeout: Optional[float], what: str) -> Any:
        """Send a request to the coordinator and wait for its TASK_RESULT."""
        if timeout is not None and not (type(timeout) in (int, float) and 0 < timeout < math.inf):
            raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
        self._attached()
        answer = asyncio.get_running_loop().create_future()
        self._requests[request_id] = answer
        try:
            await self._send(self.coordinator_id, kind, content)
            async with asyncio.timeout(timeout):
                outcome: TaskResult = await answer
        except TimeoutError:
            raise TimeoutError(
                f"agent {self.id!r}: {what} got no answer within {timeout:g} s") from None
        finally:
            del self._requests[request_id]
        if outcome.error is not None:
            raise outcome.error
        return outcome.result

    async def _register(self) -> None:
        await self._send(self.coordinator_id, MessageType.REGISTER, Registration(
            capabilities=tuple(c.value for c in AgentCapability if c in self.capabilities),
            capacity=self.capacity, incarnation=self.incarnation))

    def _background(self, coroutine: Any) -> None:
        """Run *coroutine* in a task of this agent's (stopped with it)."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    def _start_heartbeats(self) -> None:
        if self._heartbeats is None:
            self._heartbeats = asyncio.get_running_loop().create_task(
                self._beat(self._heartbeat_interval), name=f"heartbeat {self.id}")

    async def _beat(self, interval: float) -> None:
        while True:
            await self._send(self.coordinator_id, MessageType.HEARTBEAT,
                             Heartbeat(incarnation=self.incarnation))
            await asyncio.sleep(interval)

    async def _read_inbox(self, bus: MessageBus) -> None:
        """Handle messages in order until the coordinator removes this agent."""
        me, awake = self.id, self._awake
        while self._stopped_because is None:
            message = await bus.receive(me)
            if not awake.is_set():
                await awake.wait()
            kind = message.type
            if kind is TASK_REQUEST and self._start_job(message):
                continue  # the job acknowledges it once answered
            if kind is TASK_RESULT:
                outcome = message.content
                answer = self._requests.get(getattr(outcome, "task_id", None))
                if answer is not None and not answer.done():
                    answer.set_result(outcome)
            elif kind is AGENT_STATUS:
                self._on_status(message.content)
            elif kind is DIRECT and self._first_time(message.id):
                await self.handle_message(message)
            await bus.acknowledge(me, message)

    def _first_time(self, message_id: str) -> bool:
        seen = self._seen_notes
        if message_id in seen:
            return False
        seen[message_id] = None
        if len(seen) > REMEMBERED:
            seen.popitem(last=False)
        return True

    def _on_status(self, update: StatusUpdate) -> None:
        if not isinstance(update, StatusUpdate):
            return
        if update.incarnation and update.incarnation != self.incarnation:
            return  # meant for an earlier run of this agent
        if update.status is AgentStatus.OFFLINE:
            if update.reason == REGISTER_AGAIN:  # the coordinator restarted and forgot us
                self._background(self._register())
            else:
                self._stopped_because = update  # removed, replaced or rejected: stop reading
            return
        if update.heartbeat_interval is not None and self._heartbeat_interval is None:
            self._heartbeat_interval = update.heartbeat_interval
            self._start_heartbeats()
        for task_id, attempt in update.stale:  # given to other agents meanwhile: drop them
            job = self._jobs.get((task_id, attempt))
            if job is not None:
                self._dropped.add((task_id, attempt))
                job.cancel()

    def _start_job(self, message: Message) -> bool:
        """Start a job for a TASK_REQUEST; False if there is nothing to run (a
        duplicate, or a request meant for an earlier run), to acknowledge now."""
        request = message.content
        if not isinstance(request, TaskRequest):
            return False
        if request.incarnation and request.incarnation != self.incarnation:
            return False
        key = (request.task_id, request.attempt)
        if key in self._jobs or self._closing:
            return False  # running already, or leaving (the goodbye hands it back)
        self._jobs[key] = asyncio.get_running_loop().create_task(
            self._job(request, message, self._answered.get(key)),
            name=f"{self.id} {request.task_id}#{request.attempt}")
        return True

    async def _job(self, request: TaskRequest, message: Message,
                   answered: Optional[TaskResult]) -> None:
        """Run one attempt (or, for a request answered already, say the answer again)."""
        key = (request.task_id, request.attempt)
        try:
            outcome = answered or await self._attempt(request)
        except asyncio.CancelledError:
            if key in self._dropped:  # given to another agent: handled, say nothing
                self._dropped.discard(key)
                await self._attached().acknowledge(self.id, message)
                return
            raise  # crash(), or the agent stopping: the request stays unacknowledged
        finally:
            self._jobs.pop(key, None)
        self._answered[key] = outcome
        if len(self._answered) > REMEMBERED:
            self._answered.popitem(last=False)
        await self._answer(outcome, message)

    async def _attempt(self, request: TaskRequest) -> TaskResult:
        """Run ``process_task`` once; whatever it raises is a failed attempt,
        except a cancellation asked of this job (and Ctrl-C or exit, passed on)."""
        task_id, attempt = request.task_id, request.attempt
        try:
            if self._fail_next:
                self._fail_next -= 1
                raise InjectedFault(f"agent {self.id!r} failed task {task_id!r} on purpose")
            result = await self.process_task(request.task)
        except asyncio.CancelledError as exc:
            if asyncio.current_task().cancelling():  # crash(), a stale attempt, the end
                raise
            error = TaskCancelledError(
                f"agent {self.id!r}: process_task of {task_id!r} ended in CancelledError "
                "although nobody cancelled it (did it await a cancelled future?)")
            error.__cause__ = exc
            return TaskResult(task_id=task_id, attempt=attempt, error=error)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            return TaskResult(task_id=task_id, attempt=attempt, error=exc)
        return TaskResult(task_id=task_id, attempt=attempt, result=result)

    async def _answer(self, outcome: TaskResult, request: Message) -> None:
        """Send *outcome* to the coordinator, then acknowledge the request it answers."""
        try:
            await self._send(self.coordinator_id, TASK_RESULT, outcome)
        except NotSerializableError as exc:  # the result cannot cross the wire: a failure
            outcome = TaskResult(task_id=outcome.task_id, attempt=outcome.attempt, error=exc)
            self._answered[outcome.task_id, outcome.attempt] = outcome
            await self._send(self.coordinator_id, TASK_RESULT, outcome)
        await self._attached().acknowledge(self.id, request)

    def _children(self) -> list[asyncio.Task]:
        children = [*self._jobs.values(), *self._helpers]
        if self._heartbeats is not None:
            children.append(self._heartbeats)
        return children

    def _halt(self) -> None:
        """Cancel the loop, the heartbeats and every job, at once."""
        self.running = False
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        self._awake.set()
        for child in self._children():
            child.cancel()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._task = None

    def _wake(self) -> None:
        self._resume = None
        self._awake.set()
        self._note(EventKind.RESUME, Reason("pause ended"))

    def _note(self, kind: EventKind, reason: Reason) -> None:
        for callback in list(self._fault_listeners):
            callback(kind, reason)
