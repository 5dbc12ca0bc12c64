"""The message bus: the only way messages travel between the coordinator and agents.

`MessageBus` is the contract; `InMemoryBus` keeps it in one process and
`course_lib.agents.redis_bus.RedisBus` across processes and machines.

The contract is **at-least-once delivery, acknowledged after handling**:

* `send` puts a message in the inbox of ``message.receiver``, FIFO for each
  sender; sending to an address with no inbox drops it, as a network would.
* `receive` returns the next message.  The receiver calls `acknowledge`
  once it has *handled* the message (acted on it, sent what it causes).
* Until then the message may be delivered again: to a restarted receiver
  (Redis), or when fault injection says so (`InMemoryBus`).  A message may
  also arrive twice.  A copy keeps its ``id``; handlers are idempotent.
* What the bus itself notices (a lost connection, a malformed entry it
  skipped) goes to `subscribe` callbacks as a `BusEvent`, never a hang.
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

from .protocol import Message

if TYPE_CHECKING:
    from .taskbook import TaskStore

__all__ = ["MessageBus", "InMemoryBus", "Inbox", "BusEvent"]


class BusEvent(NamedTuple):
    """Something the bus noticed: ``kind`` is "disconnected", "reconnected" or
    "malformed"; ``address`` the inbox concerned (if any); ``detail`` in words."""

    kind: str
    address: Optional[str] = None
    detail: str = ""


class MessageBus(ABC):
    """Delivers `Message` objects to per-address inboxes, at least once (see the module docstring)."""

    codec: Any = None
    """What encodes messages for the wire; None while they stay live objects in one process."""

    @abstractmethod
    async def open(self, address: str) -> None:
        """Create the inbox of *address* (nothing happens if it exists)."""

    @abstractmethod
    async def close(self, address: str) -> None:
        """Delete the inbox of *address* and the messages still in it."""

    @abstractmethod
    async def send(self, message: Message) -> None:
        """Put *message* in the inbox of ``message.receiver``."""

    async def send_many(self, messages: Iterable[Message]) -> None:
        """Send *messages* in order (a bus may batch them)."""
        for message in messages:
            await self.send(message)

    @abstractmethod
    async def receive(self, address: str) -> Message:
        """Wait for and return the next message in the inbox of *address*."""

    @abstractmethod
    async def acknowledge(self, address: str, *messages: Message) -> None:
        """Mark *messages*, received at *address*, as handled: they will not come again."""

    async def send_and_acknowledge(self, messages: Iterable[Message], address: str,
                                   handled: Iterable[Message]) -> None:
        """Send *messages* in order, then acknowledge *handled*, received at *address*.

        The step that ends the handling of a message: what it caused goes
        out before the message is marked handled, so a crash in between
        delivers it again instead of losing what it caused.  A bus may do
        both in one round trip (`RedisBus` does).
        """
        await self.send_many(messages)
        handled = list(handled)
        if handled:
            await self.acknowledge(address, *handled)

    async def aclose(self) -> None:
        """Release connections (nothing to do in memory)."""

    def task_store(self, owner: str) -> Optional[TaskStore]:
        """Where the coordinator *owner* keeps its tasks, if this bus is durable
        (a restarted coordinator then resumes them); None in memory."""
        return None

    def waiting(self, address: str) -> int:
        """How many messages `receive` at *address* would return without waiting.

        A hint, 0 when the bus cannot tell: the coordinator sends what it
        has to send when this is 0, so as not to hold messages back while
        it waits.
        """
        return 0

    def subscribe(self, callback: Callable[[BusEvent], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` for each `BusEvent`; returns an unsubscribe function."""
        listeners = self._subscribers()
        listeners.append(callback)
        return lambda: callback in listeners and listeners.remove(callback)

    def report(self, event: BusEvent) -> None:
        """Tell the subscribers what the bus noticed (buses call this)."""
        for callback in list(self._subscribers()):
            callback(event)

    def _subscribers(self) -> list[Callable[[BusEvent], Any]]:
        try:
            return self._listeners
        except AttributeError:  # a subclass need not call an __init__ here
            self._listeners: list[Callable[[BusEvent], Any]] = []
            return self._listeners


class Inbox:
    """An unbounded FIFO of messages with one `get` coroutine: a lean `asyncio.Queue`.

    Every message crosses two inboxes, so their cost is the bus's cost.
    ``asyncio.Queue`` does more than an inbox needs (a size bound, putters,
    ``join``); here a put is an append plus, when a receiver waits, one
    ``set_result``.  A message leaves the deque only in `get`, after the
    wait, so a receiver cancelled while waiting loses nothing.

    Example use::

        inbox = Inbox()
        inbox.put_nowait(message)
        await inbox.get()       # message
        inbox.qsize()           # 0
    """

    __slots__ = ("_items", "_getters", "loop")

    def __init__(self, loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        self._items: deque[Message] = deque()
        self._getters: deque[asyncio.Future] = deque()  # receivers waiting, oldest first
        # The loop its receivers run on, if known: asking for the running loop
        # costs a getpid() system call, once for every wait.
        self.loop = loop

    def put_nowait(self, message: Message) -> None:
        self._items.append(message)
        if self._getters:
            self._wake_next()

    def put_front(self, messages: list[Any]) -> None:
        """Put *messages* first, in their order (a redelivery)."""
        self._items.extendleft(reversed(messages))
        for _ in messages:
            if not self._getters:
                break
            self._wake_next()

    async def get(self) -> Message:
        items = self._items
        while not items:
            getter = (self.loop or asyncio.get_running_loop()).create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:  # cancelled, as asyncio.Queue.get handles it:
                getter.cancel()  # no-op if it was woken already...
                try:
                    self._getters.remove(getter)
                except ValueError:
                    pass
                if items and not getter.cancelled():
                    self._wake_next()  # ...and then that wake-up goes to the next receiver
                raise
        return items.popleft()

    def close(self, error: BaseException) -> None:
        """Wake every receiver still waiting with *error*: nothing more will come."""
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_exception(error)

    def get_nowait(self) -> Message:
        """The next message; `asyncio.QueueEmpty` if there is none."""
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    def _wake_next(self) -> None:
        """Wake the oldest receiver still waiting (one is enough: it takes one message)."""
        getters = self._getters
        while getters:
            getter = getters.popleft()
            if not getter.done():
                getter.set_result(None)
                break

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def __repr__(self) -> str:
        return f"<Inbox messages={len(self._items)} receivers_waiting={len(self._getters)}>"


class InMemoryBus(MessageBus, Mapping[str, Inbox]):
    """`MessageBus` on in-process `Inbox` queues; also a read-only mapping of them.

    Fault injection, for testing that handlers are idempotent:

    * ``duplicate``: the chance that a sent message is delivered twice;
    * ``redeliver``: the chance that an acknowledgement is lost, so the
      message comes again later;
    * `redeliver_unacknowledged` puts back every message received and not
      yet acknowledged at an address, as a restarted receiver would get them.

    ``seed`` makes the faults reproducible.  With a ``codec`` (a
    `course_lib.agents.codec.JsonCodec`), every message is encoded at `send`
    and decoded at `receive`, exactly as it would cross processes.

    Example use::

        bus = InMemoryBus()
        await bus.open("a")
        await bus.send(Message(MessageType.DIRECT, "b", "a", "hi"))
        message = await bus.receive("a")
        await bus.acknowledge("a", message)
        bus["a"].qsize()                      # 0: the inboxes are plain FIFO queues
    """

    def __init__(self, *, codec: Any = None, duplicate: float = 0.0, redeliver: float = 0.0,
                 seed: Optional[int] = None) -> None:
        for name, chance in (("duplicate", duplicate), ("redeliver", redeliver)):
            if type(chance) not in (int, float) or not 0 <= chance <= 1:
                raise ValueError(f"{name} must be a chance between 0 and 1, got {chance!r}")
        self.codec = codec
        self.duplicate = duplicate
        self.redeliver = redeliver
        self._random = random.Random(seed)
        self._inboxes: dict[str, Inbox] = {}
        self._in_hand: dict[str, dict[str, list[Any]]] = {}  # address -> id -> [message, copies]
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.sent = 0
        self.dropped = 0  # sent to an address with no inbox
        self.duplicated = 0
        self.redelivered = 0

    async def open(self, address: str) -> None:
        # The bus lives on the loop that opened an inbox last: a coordinator
        # opens its own each time it starts, so it moves with the coordinator.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            for inbox in self._inboxes.values():
                inbox.loop = loop
        if address not in self._inboxes:
            self._inboxes[address] = Inbox(loop)
            self._in_hand[address] = {}

    async def close(self, address: str) -> None:
        inbox = self._inboxes.pop(address, None)
        self._in_hand.pop(address, None)
        if inbox is not None:
            inbox.close(KeyError(f"the inbox of {address!r} was closed"))

    async def send(self, message: Message) -> None:
        item = message if self.codec is None else self.codec.encode(message)  # raises here
        inbox = self._inboxes.get(message.receiver)
        if inbox is None:
            self.dropped += 1
            return
        self.sent += 1
        inbox.put_nowait(item)
        if self.duplicate and self._random.random() < self.duplicate:
            self.duplicated += 1
            inbox.put_nowait(item)

    def put_raw(self, address: str, data: bytes) -> None:
        """Put *data* in an inbox as it is, as a foreign or broken sender would (needs a codec)."""
        if self.codec is None:
            raise RuntimeError("put_raw needs a bus with a codec")
        self._inboxes[address].put_nowait(data)

    async def receive(self, address: str) -> Message:
        inbox = self._inboxes[address]
        while True:
            item = await inbox.get()
            if self.codec is not None:
                try:
                    item = self.codec.decode(item)
                except ValueError as exc:  # MalformedMessageError: skip it, say so
                    self.report(BusEvent("malformed", address, str(exc)))
                    continue
            in_hand = self._in_hand.get(address)
            if in_hand is not None:
                entry = in_hand.get(item.id)
                if entry is None:
                    in_hand[item.id] = [item, 1]
                else:
                    entry[1] += 1
            return item

    async def acknowledge(self, address: str, *messages: Message) -> None:
        in_hand = self._in_hand.get(address)
        if in_hand is None:
            return
        for message in messages:
            # Every copy handed out under this id is handled now (as on Redis).
            if in_hand.pop(message.id, None) is None:
                continue
            if self.redeliver and self._random.random() < self.redeliver:
                self.redelivered += 1  # the acknowledgement was "lost"
                self._requeue(address, [message])

    def redeliver_unacknowledged(self, address: str) -> int:
        """Deliver again, first, every message received at *address* and not yet
        acknowledged (as a restart does); return how many."""
        in_hand = self._in_hand.get(address)
        if not in_hand:
            return 0
        messages = [message for message, copies in in_hand.values() for _ in range(copies)]
        in_hand.clear()
        codec = self.codec
        self._inboxes[address].put_front(
            messages if codec is None else [codec.encode(message) for message in messages])
        self.redelivered += len(messages)
        return len(messages)

    def _requeue(self, address: str, messages: list[Message]) -> None:
        inbox = self._inboxes.get(address)
        if inbox is not None:
            for message in messages:
                inbox.put_nowait(message if self.codec is None else self.codec.encode(message))

    def waiting(self, address: str) -> int:
        inbox = self._inboxes.get(address)
        return 0 if inbox is None else inbox.qsize()

    def pending(self, address: str) -> int:
        """Messages at *address* not acknowledged yet (waiting, or received and in hand)."""
        inbox = self._inboxes.get(address)
        if inbox is None:
            return 0
        return inbox.qsize() + sum(copies for _, copies in self._in_hand[address].values())

    def __getitem__(self, address: str) -> Inbox:
        return self._inboxes[address]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inboxes)

    def __len__(self) -> int:
        return len(self._inboxes)

    def __repr__(self) -> str:
        waiting = sum(q.qsize() for q in self._inboxes.values())
        pending = sum(self.pending(address) for address in self._inboxes)
        return (
            f"<InMemoryBus inboxes={len(self._inboxes)} waiting={waiting} "
            f"pending={pending} sent={self.sent} dropped={self.dropped}>"
        )
