"""The event plumbing shared by the scheduler and the coordinator.

Example use::

    hub = EventHub(record=True)
    unsubscribe = hub.subscribe(print)
    hub.emit(event)                      # logged, streamed, called back
    async for event in hub.stream(live=True): ...   # backlog, then live until close_streams()

One direction only: the core emits; views subscribe, stream or read the log.
A listener that raises is reported to the loop's exception handler and does
not stop the core.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, Optional, TypeVar

__all__ = ["EventHub"]

E = TypeVar("E")
_END = object()  # closes a stream


class EventHub(Generic[E]):
    """An event log (optional), callbacks and async streams for one source."""

    def __init__(self, *, record: bool = True, name: str = "event") -> None:
        self.log: Optional[list[E]] = [] if record else None
        self.listeners: list[Callable[[E], Any]] = []
        self._streams: list[asyncio.Queue] = []
        self._name = name
        self._rebind()

    def subscribe(self, callback: Callable[[E], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` for every future event; returns an unsubscribe function."""
        self.listeners.append(callback)
        self._rebind()
        return functools.partial(self._drop, self.listeners, callback)

    async def stream(self, live: bool) -> AsyncIterator[E]:
        """The events logged so far, then (if *live*) new ones until `close_streams`."""
        queue: asyncio.Queue = asyncio.Queue()
        backlog = list(self.log or ())
        if live:  # registered before the first yield: nothing is lost or doubled
            self._streams.append(queue)
            self._rebind()
        try:
            for event in backlog:
                yield event
            if live:
                while (event := await queue.get()) is not _END:
                    yield event
        finally:
            self._drop(self._streams, queue)

    def emit(self, event: E) -> None:
        """Record *event*, put it on each live stream, and call each listener.

        An instance attribute shadows this method while nobody listens or
        streams: then emitting is just ``log.append`` (or nothing), the
        cheapest call there is for the many events a busy core emits.
        """
        if self.log is not None:
            self.log.append(event)
        for queue in self._streams:
            queue.put_nowait(event)
        for callback in self.listeners:
            try:
                callback(event)
            except Exception as exc:  # a broken view must not break the core
                asyncio.get_running_loop().call_exception_handler(
                    {"message": f"{self._name} listener {callback!r} raised", "exception": exc})

    def close_streams(self) -> None:
        """End every live stream (the source is idle or stopped)."""
        for queue in self._streams:
            queue.put_nowait(_END)


    def _drop(self, items: list, item: Any) -> None:
        if item in items:
            items.remove(item)
        self._rebind()

    def _rebind(self) -> None:
        if self.listeners or self._streams:
            self.__dict__.pop("emit", None)  # the full method
        else:
            self.emit = self.log.append if self.log is not None else _ignore


def _ignore(event: Any) -> None:
    pass
