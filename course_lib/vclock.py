"""A deterministic virtual clock for asyncio.

Example use::

    import asyncio
    from course_lib import run_virtual

    async def main():
        loop = asyncio.get_running_loop()
        await asyncio.sleep(3600)          # returns at once in real time
        return loop.time()

    assert run_virtual(main()) == 3600.0

`VirtualClockLoop` is an ordinary selector event loop whose ``time()`` is a
number it keeps itself, starting at 0.0.  Whenever the loop would block
waiting for the next timer, it jumps the clock straight to that timer instead.
So sleeps, timeouts and backoffs happen in the right order and at exact
virtual times, but cost no real time.

Rules worth knowing:

* Work done in threads (``run_in_executor``, ``asyncio.to_thread``) takes its
  *real* duration: while a thread is busy the loop really waits, and the
  virtual clock advances by the real time that passed.  A timeout can
  therefore still fire on a slow thread.
* Socket and other I/O is served as soon as it is ready and takes no virtual
  time.
* Any start and any virtual time work, a start at ``time.time()`` or a
  sleep of years included: the clock's resolution grows with its magnitude.
* If every coroutine is blocked, nothing is scheduled and no thread is busy,
  no timer can ever wake the program up.  On a real loop that is a silent
  hang; here the loop waits ``stall_timeout`` real seconds for outside I/O and
  then raises `VirtualClockStall`, naming the deadlock.

`run_virtual` runs one coroutine on a fresh `VirtualClockLoop`.  It works from
a script, from a test and inside a running Jupyter kernel: when the calling
thread already runs a loop, the virtual loop runs in a helper thread and the
caller blocks until it is done; the kernel's own loop is never patched.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["VirtualClockLoop", "VirtualClockStall", "run_virtual"]

T = TypeVar("T")


class VirtualClockStall(RuntimeError):
    """Raised when a virtual-clock program can never make progress again."""


class _VirtualSelector:
    """Wraps the real selector; turns a blocking wait into a clock jump."""

    def __init__(self, real, loop: VirtualClockLoop) -> None:
        self._real = real
        self._loop = loop

    def __getattr__(self, name: str) -> Any:  # register, unregister, get_map, ...
        return getattr(self._real, name)

    def select(self, timeout: float | None = None):
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        loop = self._loop
        if loop._threads_busy:
            # A thread is working: wait for real, and let virtual time follow.
            started = time.monotonic()
            ready = self._real.select(timeout)
            elapsed = time.monotonic() - started
            loop._advance(elapsed if timeout is None else min(elapsed, timeout))
            return ready
        if timeout is None:
            ready = self._real.select(loop.stall_timeout)
            if not ready:
                raise VirtualClockStall(
                    "virtual clock: every task is waiting, no timer is scheduled and "
                    f"no I/O arrived for {loop.stall_timeout:g} s; the program is deadlocked"
                )
            return ready
        loop._jump(timeout)
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock only moves when the loop would sleep.

    ``time()`` starts at *start* (0.0 by default).  See the module docstring
    for how threads, I/O and deadlocks are treated.
    """

    def __init__(self, start: float = 0.0, *, stall_timeout: float = 60.0) -> None:
        super().__init__()
        self._virtual_now = float(start)
        self._threads_busy = 0
        self.stall_timeout = stall_timeout
        self._selector = _VirtualSelector(self._selector, self)

    def time(self) -> float:
        return self._virtual_now

    # asyncio runs a timer once ``time() + _clock_resolution`` passes it.  Far
    # from zero (a start at time.time(), months of virtual time) adding the
    # real clock's nanosecond changes nothing in floating point, and a clock
    # that lands exactly on a timer would never see it due: a livelock.  So
    # the resolution is at least a few units in the last place of the clock.
    @property
    def _clock_resolution(self) -> float:
        return max(self._base_resolution, 4 * math.ulp(self._virtual_now))

    @_clock_resolution.setter
    def _clock_resolution(self, value: float) -> None:  # set by asyncio's __init__
        self._base_resolution = value

    def _advance(self, seconds: float) -> None:
        self._virtual_now += seconds

    def _jump(self, timeout: float) -> None:
        target = self._virtual_now + timeout
        if self._scheduled:
            # Land exactly on the next timer instead of on now+timeout, which
            # float rounding could put a hair before it.
            target = min(target, self._scheduled[0]._when)
        self._virtual_now = max(self._virtual_now, target)

    def run_in_executor(self, executor, func, *args):
        future = super().run_in_executor(executor, func, *args)
        self._threads_busy += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _future: asyncio.Future) -> None:
        self._threads_busy -= 1

    def __repr__(self) -> str:
        return (
            f"<VirtualClockLoop time={self._virtual_now:g} running={self.is_running()} "
            f"threads_busy={self._threads_busy}>"
        )


def run_virtual(
    coro: Coroutine[Any, Any, T], *, start: float = 0.0, stall_timeout: float = 60.0
) -> T:
    """Run *coro* on a fresh `VirtualClockLoop` and return its result.

    Safe to call where an event loop is already running (a Jupyter cell): the
    virtual loop then runs in a helper thread while the caller waits.
    """
    if not asyncio.iscoroutine(coro):
        raise TypeError(f"run_virtual() needs a coroutine object, got {type(coro).__name__}")

    def factory() -> VirtualClockLoop:
        return VirtualClockLoop(start, stall_timeout=stall_timeout)

    def run() -> T:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no loop in this thread
        pass
    else:
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="virtual-clock") as pool:
            return pool.submit(run).result()
    return run()
