"""The message bus: the only way messages travel between the coordinator and agents.

`MessageBus` is the small interface the coordinator and the agents use, so
the transport can change (a later version puts it on Redis Streams, for
agents in other processes) without touching either of them.  `InMemoryBus`
is the in-process implementation: one `Inbox` (a lean FIFO queue) per address.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Coroutine, Iterator, Mapping
from typing import Any, Optional

from .types import Message

__all__ = ["MessageBus", "InMemoryBus", "Inbox"]


class MessageBus(ABC):
    """Delivers `Message` objects to per-address inboxes, FIFO for each sender.

    A receiver acknowledges each message once it has taken charge of it.
    Sending to an address with no inbox drops the message, as a network would.
    """

    @abstractmethod
    async def open(self, address: str) -> None:
        """Create the inbox of *address* (nothing happens if it exists)."""

    @abstractmethod
    async def close(self, address: str) -> None:
        """Delete the inbox of *address* and the messages still in it."""

    @abstractmethod
    async def send(self, message: Message) -> None:
        """Put *message* in the inbox of ``message.receiver``."""

    @abstractmethod
    async def receive(self, address: str) -> Message:
        """Wait for and return the next message in the inbox of *address*."""

    @abstractmethod
    async def acknowledge(self, address: str, message: Message) -> None:
        """Mark *message*, received at *address*, as handled."""

    def waiting(self, address: str) -> int:
        """How many messages `receive` at *address* would return without waiting.

        A hint, 0 when the bus cannot tell: the coordinator sends what it
        has to send when this is 0, so as not to hold messages back while
        it waits.
        """
        return 0


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

    Example use::

        bus = InMemoryBus()
        await bus.open("a")
        await bus.send(Message(MessageType.DIRECT, "b", "a", "hi"))
        message = await bus.receive("a")
        await bus.acknowledge("a", message)
        bus["a"].qsize()                      # 0: the inboxes are plain FIFO queues
    """

    def __init__(self) -> None:
        self._inboxes: dict[str, Inbox] = {}
        self._pending: dict[str, int] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.sent = 0
        self.dropped = 0  # sent to an address with no inbox

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
            self._pending[address] = 0

    async def close(self, address: str) -> None:
        self._inboxes.pop(address, None)
        self._pending.pop(address, None)

    async def send(self, message: Message) -> None:
        address = message.receiver
        inbox = self._inboxes.get(address)
        if inbox is None:
            self.dropped += 1
            return
        self.sent += 1
        self._pending[address] += 1
        inbox.put_nowait(message)

    def receive(self, address: str) -> Coroutine[Any, Any, Message]:
        # The inbox's own get() coroutine: one coroutine less on the hot path.
        return self._inboxes[address].get()

    async def acknowledge(self, address: str, message: Message) -> None:
        if self._pending.get(address):
            self._pending[address] -= 1

    def waiting(self, address: str) -> int:
        inbox = self._inboxes.get(address)
        return 0 if inbox is None else inbox.qsize()

    def pending(self, address: str) -> int:
        """Messages sent to *address* and not acknowledged yet (waiting or in hand)."""
        return self._pending.get(address, 0)

    def __getitem__(self, address: str) -> Inbox:
        return self._inboxes[address]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inboxes)

    def __len__(self) -> int:
        return len(self._inboxes)

    def __repr__(self) -> str:
        waiting = sum(q.qsize() for q in self._inboxes.values())
        pending = sum(self._pending.values())
        return (
            f"<InMemoryBus inboxes={len(self._inboxes)} waiting={waiting} "
            f"pending={pending} sent={self.sent} dropped={self.dropped}>"
        )
