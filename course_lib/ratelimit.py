"""A token bucket: at most *capacity* requests in a burst, then *rate* per second.

Example use::

    from course_lib.ratelimit import TokenBucket

    bucket = TokenBucket(capacity=3, rate=0.5)    # 30 requests a minute, bursts of 3

    async def call(prompt):
        await bucket.acquire()                    # sleeps until a token is there
        return await client.chat(prompt)

A Semaphore caps how many requests run *at the same time*; a token bucket
caps how many *start per unit of time* (a provider's requests-per-minute
limit).  Use both when a provider has both limits.

`acquire` never polls: it works out when its token will have dripped in and
sleeps exactly that long (on the running loop's clock, so under
`course_lib.run_virtual` the start times are exact).  Callers are served in
the order they called `acquire`.  Use a bucket on one event loop only: its
times are that loop's clock.
"""

from __future__ import annotations

import asyncio
import math
from typing import Optional

__all__ = ["TokenBucket"]


class TokenBucket:
    """At most *capacity* tokens; *rate* tokens drip in per second; a request takes one.

    The bucket starts full.  Tokens are booked in advance: `acquire` takes its
    token at once, letting the count go below zero, and sleeps until the
    refill has paid that debt back.  So a waiter needs no loop and no wake-up
    from anyone, and later callers queue up behind earlier ones.  A waiter
    that is cancelled keeps its booking (its slot goes unused), so the limit
    holds even then.
    """

    def __init__(self, capacity: int, rate: float) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a whole number of tokens >= 1, got {capacity!r}")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (0 < rate < math.inf):
            raise ValueError(f"rate must be a finite number of tokens per second > 0, got {rate!r}")
        self.capacity = capacity
        self.rate = float(rate)
        self._tokens = float(capacity)     # may go below zero: tokens already booked by waiters
        self._updated: Optional[float] = None

    def _refill(self, now: float) -> None:
        if self._updated is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        """Take one token, sleeping exactly until it is available (FIFO among callers)."""
        self._refill(asyncio.get_running_loop().time())
        wait = max(0.0, (1 - self._tokens) / self.rate)   # tokens missing / tokens per second
        self._tokens -= 1                                 # book it now: later callers queue behind
        if wait > 0:
            await asyncio.sleep(wait)                     # computed once: no polling

    def __repr__(self) -> str:
        return f"<TokenBucket capacity={self.capacity} rate={self.rate:g}/s>"
