"""Many deadlines, one loop timer.

The scheduler gives every attempt a timeout.  One ``loop.call_at`` handle per
attempt would push a `TimerHandle` into the loop's heap and compare them with
a Python ``__lt__``; most of them are cancelled a moment later.  Here the
deadlines live in our own heap of tuples, and a single loop timer is armed for
the earliest one.  Cancelled entries are dropped lazily and compacted when
they outnumber the live ones, as asyncio itself does with its heap.  When the
last live deadline is cancelled the timer stays armed: attempts often all end
in one loop iteration and the next ones start a moment later, and cancelling
and re-arming a loop timer for each such batch cost more than the one idle
wake-up it saves.  `close` disarms it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from heapq import heapify, heappop, heappush
from typing import Any, Optional

__all__ = ["Deadlines"]

_RESOLUTION = time.get_clock_info("monotonic").resolution


class Deadlines:
    """Call ``on_expire(item)`` at each item's deadline unless it was cancelled first."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_expire: Callable[[Any], None]) -> None:
        self._loop = loop
        self._on_expire = on_expire
        self._heap: list[tuple[float, int, Any]] = []
        self._live: dict[int, Any] = {}
        self._ids = itertools.count()
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_at = float("inf")

    def add(self, when: float, item: Any) -> int:
        """Schedule *item*; returns a token for `cancel`."""
        token = next(self._ids)
        heappush(self._heap, (when, token, item))
        self._live[token] = item
        if when < self._timer_at:
            self._arm(when)
        return token

    def cancel(self, token: int) -> None:
        self._live.pop(token, None)
        if not self._live:
            self._heap.clear()  # the timer stays armed; it will find nothing due
        elif len(self._heap) > 64 and len(self._heap) > 2 * len(self._live):
            self._heap = [entry for entry in self._heap if entry[1] in self._live]
            heapify(self._heap)

    def close(self) -> None:
        """Forget every deadline and disarm the timer."""
        self._heap.clear()
        self._live.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = float("inf")

    def __len__(self) -> int:
        return len(self._live)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._fire)
        self._timer_at = when

    def _fire(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        # asyncio may run a timer up to one clock tick early; count those as due.
        heap, live, now = self._heap, self._live, self._loop.time() + _RESOLUTION
        while heap and heap[0][0] <= now:
            _, token, item = heappop(heap)
            if live.pop(token, None) is not None:
                self._on_expire(item)
        while heap and heap[0][1] not in live:  # drop cancelled entries on top
            heappop(heap)
        if heap:
            self._arm(heap[0][0])
