"""BaseAgent: the worker side of the agent system.

An agent reads its inbox on the coordinator's message bus, runs each task it
is sent (up to ``capacity`` at once), answers with a TASK_RESULT, and sends a
HEARTBEAT every ``heartbeat_interval``.  It talks to other agents only
through the bus: `send` and `broadcast` for notes, `request` to have another
agent (or any agent with a capability) do a task and wait for the answer.

How tasks run
-------------
One asyncio task at a time reads the inbox: the *reader*, at first the task
of `run` itself.  It handles messages one by one, in order.  A TASK_REQUEST
it runs at once, inside itself: a task that never waits (a quick lookup, a
calculation) is done before the next message, with no asyncio task created
for it.  When the task does wait, the reader keeps it, since its awaits and
``asyncio.current_task()`` (``asyncio.timeout``, task groups) belong to it,
and hands the inbox to another reader (a parked one, or a new one) before it
waits; once the task is done, it parks until the inbox needs it again.  So
the inbox is always read (replies to `request` arrive while a task waits on
them), tasks run side by side up to ``capacity``, and each waiting task is
in an asyncio task of its own that `crash` (or a stale-attempt notice) can
cancel.  Each task runs in its own copy of the reader's context, as with
``asyncio.create_task``.

The fault-injection hooks `crash`, `pause` and `fail_next` exist for
teaching: they make failover, late results and retries happen on demand.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import types
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Optional, Union

from ..i18n import Reason
from .types import (
    AgentCapability,
    AgentEvent,
    EventKind,
    InjectedFault,
    InvalidTaskError,
    Message,
    MessageType,
    StatusUpdate,
    TaskCancelledError,
    TaskRequest,
    TaskResult,
    loop_time,
    parse_capability,
)

if TYPE_CHECKING:
    from .coordinator import Coordinator

__all__ = ["BaseAgent"]

TASK_REQUEST, TASK_RESULT = MessageType.TASK_REQUEST, MessageType.TASK_RESULT
AGENT_STATUS, HEARTBEAT, DIRECT = MessageType.AGENT_STATUS, MessageType.HEARTBEAT, MessageType.DIRECT
_new = tuple.__new__  # builds a named tuple from all its fields, skipping its slower __new__


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
        self.coordinator: Optional[Coordinator] = None
        self.running = False
        self.received: deque[Message] = deque(maxlen=100)
        self._task: Optional[asyncio.Task] = None  # run()
        self._loop: Optional[asyncio.AbstractEventLoop] = None  # run()'s
        self._heartbeat_task: Optional[asyncio.Task] = None
        # Tasks that waited, and so are still running: task id -> (attempt, the reader running it).
        self._jobs: dict[str, tuple[int, asyncio.Task]] = {}
        self._helpers: set[asyncio.Task] = set()  # readers besides run()'s own task
        self._parked: deque[asyncio.Future] = deque()  # readers waiting to read the inbox again
        self._drops: dict[asyncio.Task, int] = {}  # reader -> cancellations asked by _drop_stale
        self._reader_error: Optional[BaseException] = None  # what killed a helper reader
        self._requests: dict[str, asyncio.Future] = {}  # task id -> answer
        self._request_ids = itertools.count(1)
        self._fail_next = 0
        self._awake = asyncio.Event()  # cleared while paused
        self._awake.set()
        self._resume: Optional[asyncio.TimerHandle] = None

    # ---------------------------------------------------------- chapter API

    async def connect(self, coordinator: Coordinator) -> None:
        """Register with *coordinator*, which starts `run` (now, or when it starts)."""
        self.coordinator = coordinator
        try:
            await coordinator.register_agent(self)
        except BaseException:
            self.coordinator = None
            raise

    @abstractmethod
    async def process_task(self, task: dict[str, Any]) -> Any:
        """Do *task* and return its result; raising fails this attempt."""

    async def run(self) -> None:
        """The agent's loop: read the inbox, start tasks, send heartbeats.

        The coordinator starts it when the agent connects (or when the
        coordinator starts) and stops it by cancelling it.  Called while the
        loop already runs (``asyncio.gather(coordinator.run(), agent.run())``
        in the chapter's style), it waits for that loop to end instead of
        starting a second one; the coordinator likewise adopts a loop that a
        user started before it.
        """
        coordinator = self._connected()
        current = asyncio.current_task()
        if self.running and self._task is not None and self._task is not current:
            await asyncio.wait([self._task])  # cancelling this wait leaves that loop alone
            return
        self.running = True
        self._task = current
        self._loop = current.get_loop()
        self._reader_error = None
        try:
            # The first heartbeat goes out, and its timer starts, before any task
            # here can start one of its own (as when every task had an asyncio task
            # of its own, started after this one).  The rest of the loop is a task.
            heartbeat, context = self._heartbeat(coordinator), contextvars.copy_context()
            waiting_on = context.run(heartbeat.send, None)
            self._heartbeat_task = asyncio.create_task(
                _carried_on(heartbeat, context, waiting_on), name=f"heartbeat {self.id}"
            )
            await self._read_inbox(coordinator)
        except asyncio.CancelledError:
            error, self._reader_error = self._reader_error, None
            if error is not None:  # a helper reader died of it: so does the agent's loop
                raise error from None
            raise
        finally:
            self._task = None  # so that _halt() does not cancel this very task
            self._halt()
            await asyncio.gather(*self._children(), return_exceptions=True)
            self._heartbeat_task = None
            self._jobs.clear()
            self._helpers.clear()
            self._parked.clear()
            self._drops.clear()

    async def send_message(self, message: Message) -> None:
        """Send *message* on the coordinator's bus (held back while paused)."""
        coordinator = self.coordinator
        if coordinator is None:
            self._connected()  # raises
        if message.sender != self.id:
            raise ValueError(f"agent {self.id!r} cannot send a message as {message.sender!r}")
        if not self._awake.is_set():
            await self._awake.wait()
        await coordinator.message_bus.send(message)

    # ------------------------------------------------------ talking to peers

    async def send(self, receiver: str, content: Any) -> None:
        """Send a DIRECT message with *content* to agent *receiver*."""
        await self.send_message(Message(DIRECT, self.id, receiver, content))

    async def broadcast(self, content: Any, capability: Optional[AgentCapability] = None) -> int:
        """Send *content* to every other registered agent (with *capability*, if given).

        Returns how many agents it was sent to.
        """
        coordinator = self._connected()
        peers = coordinator.find_agents(capability) if capability else coordinator.agents.values()
        receivers = [info.id for info in peers if info.id != self.id]
        for receiver in receivers:
            await self.send(receiver, content)
        return len(receivers)

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
        coordinator = self._connected()
        task = dict(payload)
        agent_only = None
        if isinstance(target, str) and target in coordinator.agents:
            agent_only = target
        else:
            try:
                task["type"] = parse_capability(target)
            except InvalidTaskError:
                raise InvalidTaskError(
                    f"request target {target!r} is neither a registered agent nor a capability"
                ) from None
        task_id = f"{self.id}/request-{next(self._request_ids)}"
        answer = asyncio.get_running_loop().create_future()
        self._requests[task_id] = answer
        try:
            await self.send_message(Message(
                TASK_REQUEST, self.id, coordinator.id,
                TaskRequest(task_id, task, agent=agent_only, deadline=timeout),
            ))
            async with asyncio.timeout(timeout):
                outcome: TaskResult = await answer
        except TimeoutError:
            raise TimeoutError(
                f"agent {self.id!r}: request {task_id} to {getattr(target, 'value', target)!r} "
                f"got no answer within {timeout:g} s"
            ) from None
        finally:
            del self._requests[task_id]
        if outcome.error is not None:
            raise outcome.error
        return outcome.result

    async def handle_message(self, message: Message) -> None:
        """Handle a DIRECT (or other non-task) message; by default keep it in `received`.

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

    def _launch(self) -> asyncio.Task:
        """Start `run` in a task (the coordinator does this), or adopt the one a
        user started; faults apply from now on."""
        if self.running and self._task is not None and not self._task.done():
            return self._task
        self._loop = loop = asyncio.get_running_loop()
        self._task = loop.create_task(self.run(), name=f"agent {self.id}")
        self.running = True
        return self._task

    def _connected(self) -> Coordinator:
        if self.coordinator is None:
            raise RuntimeError(f"agent {self.id!r} is not connected; await agent.connect(coordinator)")
        return self.coordinator

    async def _heartbeat(self, coordinator: Coordinator) -> None:
        interval, receiver = coordinator.heartbeat_interval, coordinator.id
        while True:
            await self.send_message(Message(HEARTBEAT, self.id, receiver, None))
            await asyncio.sleep(interval)

    async def _read_inbox(self, coordinator: Coordinator) -> None:
        """Handle messages in order while this task is the reader (see the module docstring)."""
        bus, me, awake = coordinator.message_bus, self.id, self._awake
        receive, acknowledge = bus.receive, bus.acknowledge
        while self.running:  # crash() inside a task that never waited ends the loop here
            message = await receive(me)
            if not awake.is_set():
                await awake.wait()
            kind = message.type
            if kind is TASK_REQUEST:
                await acknowledge(me, message)  # taken charge of
                rest = self._start_job(message.content)
                if rest is not None:  # it waits: another task reads the inbox meanwhile
                    await self._see_through(rest)
                    await self._park()
                continue
            if kind is TASK_RESULT:
                answer = self._requests.get(message.content.task_id)
                if answer is not None and not answer.done():
                    answer.set_result(message.content)
            elif kind is AGENT_STATUS:
                self._drop_stale(message.content)
            else:
                await self.handle_message(message)
            await acknowledge(me, message)
        # crash() ran inside a task that never waited: take its cancellation here,
        # before run()'s cleanup (which awaits) would.
        await asyncio.sleep(0)

    def _start_job(self, request: TaskRequest) -> Optional[types.GeneratorType]:
        """Run *request* until it ends or first waits; if it waits, pass the inbox on
        and return what to await to see it through in this task."""
        job = self._execute(request)
        context = contextvars.copy_context()
        try:
            waiting_on = context.run(job.send, None)
        except StopIteration:
            return None  # done, result sent
        except asyncio.CancelledError:
            return None  # the reader was cancelled meanwhile (crash() from inside the task)
        self._jobs[request.task_id] = (request.attempt, asyncio.current_task())
        self._pass_inbox()
        return _carry_on(job, context, waiting_on)

    async def _see_through(self, rest: types.GeneratorType) -> None:
        """Await the rest of a task; absorb the cancellations of `_drop_stale`, not others."""
        reader = asyncio.current_task()
        try:
            await rest
        except asyncio.CancelledError:
            if not self._forget_drops(reader):
                raise  # crash(), or the coordinator stopping
        else:
            self._forget_drops(reader)

    def _forget_drops(self, reader: asyncio.Task) -> bool:
        """Take back the cancellations `_drop_stale` asked of *reader*; True if there
        were some and nothing else asked for one."""
        drops = self._drops.pop(reader, 0)
        for _ in range(drops):
            reader.uncancel()
        return drops > 0 and not reader.cancelling()

    def _pass_inbox(self) -> None:
        """The reader is about to wait for a task: wake a parked reader, or start one."""
        parked = self._parked
        while parked:
            waiter = parked.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        helper = asyncio.get_running_loop().create_task(self._help(), name=f"agent {self.id} reader")
        self._helpers.add(helper)

    async def _park(self) -> None:
        """Wait until the inbox needs a reader again (a task has finished here meanwhile)."""
        waiter = asyncio.get_running_loop().create_future()
        self._parked.append(waiter)
        await waiter

    async def _help(self) -> None:
        """A helper reader's task: read the inbox; if that fails, so does `run`."""
        try:
            await self._read_inbox(self._connected())
        except Exception as exc:
            if self._task is not None:
                self._reader_error = exc
                self._task.cancel()

    async def _execute(self, request: TaskRequest) -> None:
        task_id, attempt = request.task_id, request.attempt
        # TaskResult built with tuple.__new__: all four fields, in order (see coordinator._new).
        try:
            if self._fail_next:
                self._fail_next -= 1
                raise InjectedFault(f"agent {self.id!r} failed task {task_id!r} on purpose")
            outcome = _new(TaskResult, (task_id, attempt, await self.process_task(request.task), None))
        except Exception as exc:
            outcome = _new(TaskResult, (task_id, attempt, None, exc))
        except asyncio.CancelledError as exc:
            if asyncio.current_task().cancelling():  # crash(), a stale attempt, the end
                raise
            error = TaskCancelledError(
                f"agent {self.id!r}: process_task of {task_id!r} ended in CancelledError "
                "although nobody cancelled it (did it await a cancelled future?)")
            error.__cause__ = exc
            outcome = _new(TaskResult, (task_id, attempt, None, error))
        finally:
            jobs = self._jobs
            entry = jobs.get(task_id)
            if entry is not None and entry[0] == attempt:
                del jobs[task_id]
        coordinator = self.coordinator
        if coordinator is not None:  # else unregistered meanwhile: nobody to answer
            await self.send_message(Message(TASK_RESULT, self.id, coordinator.id, outcome,
                                            self._loop.time()))

    def _drop_stale(self, update: StatusUpdate) -> None:
        """The coordinator gave these attempts to other agents: stop working on them."""
        for task_id, attempt in update.stale:
            entry = self._jobs.get(task_id)
            if entry is not None and entry[0] == attempt:
                reader = entry[1]  # _see_through tells this cancellation from the others
                self._drops[reader] = self._drops.get(reader, 0) + 1
                reader.cancel()

    def _runs_in(self, task: Optional[asyncio.Task]) -> bool:
        """Is *task* one of this agent's own (its loop, a reader, its heartbeats)?"""
        return task is not None and (task is self._task or task in self._helpers
                                     or task is self._heartbeat_task)

    def _children(self) -> list[asyncio.Task]:
        """The tasks to stop with the agent (not run()'s own)."""
        children = list(self._helpers)
        if self._heartbeat_task is not None:
            children.append(self._heartbeat_task)
        return children

    def _halt(self) -> None:
        """Cancel the loop, the heartbeats and every task, at once."""
        self.running = False
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        self._awake.set()
        for child in self._children():
            child.cancel()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _wake(self) -> None:
        self._resume = None
        self._awake.set()
        self._note(EventKind.RESUME, Reason("pause ended"))

    def _note(self, kind: EventKind, reason: Reason) -> None:
        if self.coordinator is not None:
            self.coordinator._hub.emit(AgentEvent(loop_time(), kind, None, self.id, reason=reason))


@types.coroutine
def _carry_on(job: Any, context: contextvars.Context, waiting_on: Any) -> Any:
    """Go on running coroutine *job*, now waiting on *waiting_on*, in the awaiting
    task and in *context*: what a task's steps would do, passing what the task
    sends or throws (results, cancellation) through to *job*."""
    run = context.run
    while True:
        try:
            sent = yield waiting_on
        except GeneratorExit:
            job.close()
            raise
        except BaseException as exc:
            try:
                waiting_on = run(job.throw, exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                waiting_on = run(job.send, sent)
            except StopIteration as done:
                return done.value


async def _carried_on(job: Any, context: contextvars.Context, waiting_on: Any) -> Any:
    """`_carry_on` as a coroutine, for a task of its own."""
    return await _carry_on(job, context, waiting_on)
