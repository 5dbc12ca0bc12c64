"""The message bus: the only way messages travel between the coordinator and agents.

`MessageBus` is the small interface the coordinator and the agents use, so
the transport can change (a later version puts it on Redis Streams, for
agents in other processes) without touching either of them.  `InMemoryBus`
is the in-process implementation: one `asyncio.Queue` inbox per address.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Iterator, Mapping
from typing import Any

from .types import Message

__all__ = ["MessageBus", "InMemoryBus"]


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


class InMemoryBus(MessageBus, Mapping[str, asyncio.Queue]):
    """`MessageBus` on `asyncio.Queue` inboxes; also a read-only mapping of them.

    Example use::

        bus = InMemoryBus()
        await bus.open("a")
        await bus.send(Message(MessageType.DIRECT, "b", "a", "hi"))
        message = await bus.receive("a")
        await bus.acknowledge("a", message)
        bus["a"].qsize()                      # 0: the inboxes are plain queues
    """

    def __init__(self) -> None:
        self._inboxes: dict[str, asyncio.Queue] = {}
        self._pending: dict[str, int] = {}
        self.sent = 0
        self.dropped = 0  # sent to an address with no inbox

    async def open(self, address: str) -> None:
        if address not in self._inboxes:
            self._inboxes[address] = asyncio.Queue()
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
        # The queue's own get() coroutine: one coroutine less on the hot path.
        return self._inboxes[address].get()

    async def acknowledge(self, address: str, message: Message) -> None:
        if self._pending.get(address):
            self._pending[address] -= 1

    def pending(self, address: str) -> int:
        """Messages sent to *address* and not acknowledged yet (waiting or in hand)."""
        return self._pending.get(address, 0)

    def __getitem__(self, address: str) -> asyncio.Queue:
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
