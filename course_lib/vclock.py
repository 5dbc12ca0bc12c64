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

The clock jumps only when nothing outside the loop can still deliver
something sooner.  Rules worth knowing:

* **Threads.**  Work done in threads (``run_in_executor``,
  ``asyncio.to_thread``) takes its *real* duration: while a thread is busy,
  the loop really waits and the virtual clock advances by the real time that
  passed.  A timeout can therefore still fire on a slow thread.  The same
  holds while a *foreign* thread is alive, one the program started during
  the run without ``run_in_executor`` (it may hand a result to the loop
  through ``call_soon_threadsafe`` or ``wrap_future``, as asyncio's own
  subprocess watcher does).  Threads that were already running when the loop
  was made are not watched.
* **Real I/O.**  While the loop watches a socket or a pipe (a connection, a
  server, a subprocess's output), the clock does not jump either: it follows
  real time, so ``wait_for(reader.readline(), 5)`` gives a peer that answers
  in 0.3 s its 0.3 s.  Data that is ready is served at once and takes no
  virtual time.  A program whose timings should be exact keeps real I/O out
  of the virtual clock (use fakes), or runs on a real loop.
* **Busy-waiting.**  ``while not flag: await asyncio.sleep(0)`` keeps the
  loop busy, so it never waits and never jumps.  After `SPIN_GRACE` rounds in
  a row in which nothing but such yields ran, virtual time follows real time,
  as on a real loop, so a flag that a timer sets is still reached.  A poll
  that goes on for ``stall_timeout`` real seconds raises `VirtualClockStall`,
  which names the busy-waiting: wait on an ``asyncio.Event`` instead.  A few
  zero sleeps in a row (fewer than `SPIN_GRACE`) take no virtual time.
* Any start and any virtual time work, a start at ``time.time()`` or a
  sleep of years included: the clock's resolution grows with its magnitude.
* If every coroutine is blocked, nothing is scheduled and nothing outside the
  loop is pending, no timer can ever wake the program up.  On a real loop that
  is a silent hang; here the loop waits ``stall_timeout`` real seconds for
  outside I/O and then raises `VirtualClockStall`, naming the deadlock.

`run_virtual` runs one coroutine on a fresh `VirtualClockLoop`.  It works from
a script, from a test and inside a running Jupyter kernel: when the calling
thread already runs a loop, the virtual loop runs in a helper thread and the
caller blocks until it is done; the kernel's own loop is never patched.
Interrupting the caller (Ctrl-C, Jupyter's "interrupt kernel") stops the
helper too: its main task is cancelled, as `asyncio.run` does on Ctrl-C, and
if that has not ended it within `INTERRUPT_GRACE` seconds (a task stuck in
plain code, or one that ignores the cancellation), a ``KeyboardInterrupt`` is
raised inside the helper thread.  The caller gets its ``KeyboardInterrupt``
within about twice `INTERRUPT_GRACE`, whatever the helper does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import math
import sys
import threading
import time
import weakref
from collections.abc import Coroutine
from typing import Any, Optional, TypeVar

__all__ = ["VirtualClockLoop", "VirtualClockStall", "run_virtual"]

T = TypeVar("T")

SPIN_GRACE = 10_000
"""Rounds in a row of nothing but ``sleep(0)`` yields before virtual time follows real time."""

INTERRUPT_GRACE = 0.5
"""Seconds an interrupted helper thread gets to stop gently, and then again after a hard stop."""


_BUSY_THREAD = "a thread started by run_in_executor"


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
        loop = self._loop
        # Look outside first: a foreign thread that ends right after this has
        # already written its wake-up, which the poll below then sees.
        outside = loop._outside_work()
        ready = self._real.select(0)
        loop._count_spin(busy_only_with_yields=not ready and timeout == 0)
        if ready or timeout == 0:
            return ready
        if outside is None:
            if timeout is not None:
                loop._jump(timeout)
                return []
            ready = self._real.select(loop.stall_timeout)
            if not ready:
                raise VirtualClockStall(
                    "virtual clock: every task is waiting, no timer is scheduled and "
                    f"no I/O arrived for {loop.stall_timeout:g} s; the program is deadlocked"
                )
            return ready
        # Something outside the loop may answer first: wait for real, and let
        # virtual time follow.  A busy executor thread may take as long as it
        # needs; real I/O or a foreign thread that stays silent while no timer
        # is left is a deadlock like any other.
        endless = timeout is None and outside != _BUSY_THREAD
        started = time.monotonic()
        ready = self._real.select(loop.stall_timeout if endless else timeout)
        elapsed = time.monotonic() - started
        loop._advance(elapsed if timeout is None else min(elapsed, timeout))
        if endless and not ready:
            raise VirtualClockStall(
                f"virtual clock: every task is waiting, no timer is scheduled and nothing came "
                f"from {outside} for {loop.stall_timeout:g} s; the program is deadlocked")
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock only moves when the loop would sleep.

    ``time()`` starts at *start* (0.0 by default).  See the module docstring
    for how threads, I/O, busy-waiting and deadlocks are treated.
    """

    def __init__(self, start: float = 0.0, *, stall_timeout: float = 60.0) -> None:
        super().__init__()
        self._virtual_now = float(start)
        self._threads_busy = 0
        # Threads there before the loop, and executors' threads, are not watched.
        self._threads_known: weakref.WeakSet[threading.Thread] = weakref.WeakSet(
            threading.enumerate())
        self._threads_watched: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        self._spins = 0                # rounds in a row busy only with sleep(0) yields
        self._yields = 0               # sleep(0) yields since the last round began
        self._spinner: Optional[asyncio.Task] = None
        self._spin_started = self._spin_mark = 0.0
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

    # ------------------------------------------------------------ outside work

    def _outside_work(self) -> Optional[str]:
        """What outside the loop could still wake it, in words, or None."""
        if self._threads_busy:
            return _BUSY_THREAD
        if len(self._selector.get_map()) > 1:  # more than the loop's own wake-up pipe
            return "real I/O (a socket or a pipe)"
        me = threading.current_thread()
        for thread in threading.enumerate():
            if thread is not me and thread not in self._threads_known:
                self._wake_when_done(thread)
                return f"thread {thread.name!r}, started during the run"
        return None

    def _wake_when_done(self, thread: threading.Thread) -> None:
        """Wake the loop when a foreign *thread* ends, so the clock may jump
        again at once rather than after the real wait for the next timer."""
        if thread in self._threads_watched:
            return
        self._threads_watched.add(thread)

        def watch() -> None:
            thread.join()
            try:
                self.call_soon_threadsafe(_nothing)
            except RuntimeError:  # the loop has closed meanwhile
                pass

        watcher = threading.Thread(target=watch, name=f"virtual-clock-watch-{thread.name}",
                                   daemon=True)
        self._threads_known.add(watcher)
        watcher.start()

    def run_in_executor(self, executor, func, *args):
        future = super().run_in_executor(executor, func, *args)
        # A thread the executor started for this call is its own, not foreign:
        # once idle it waits for more work, not to wake the loop.
        self._threads_known.update(threading.enumerate())
        self._threads_busy += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _future: asyncio.Future) -> None:
        self._threads_busy -= 1

    # ------------------------------------------------------------ busy-waiting

    def call_soon(self, callback, *args, context=None):
        handle = super().call_soon(callback, *args, context=context)
        # A task that schedules its own next step has yielded with sleep(0).
        task = getattr(callback, "__self__", None)
        if task is not None and task is asyncio.current_task(self):
            self._yields += 1
            self._spinner = task
        return handle

    def _count_spin(self, busy_only_with_yields: bool) -> None:
        """Let virtual time follow real time while tasks only poll with sleep(0)."""
        spinning = busy_only_with_yields and 0 < len(self._ready) == self._yields
        self._yields = 0
        if not spinning:
            self._spins = 0
            self._spinner = None
            return
        self._spins += 1
        now = time.monotonic()
        if self._spins == 1:
            self._spin_started = now
        elif self._spins > SPIN_GRACE:
            target = self._virtual_now + (now - self._spin_mark)
            if self._scheduled:
                target = min(target, self._scheduled[0]._when)
            self._virtual_now = max(self._virtual_now, target)
            if now - self._spin_started >= self.stall_timeout:
                self._raise_busy_waiting(now - self._spin_started)
        self._spin_mark = now

    def _raise_busy_waiting(self, seconds: float) -> None:
        name = self._spinner.get_name() if self._spinner is not None else "a task"
        self._spins = 0
        raise VirtualClockStall(
            f"virtual clock: {name} has been busy-waiting for {seconds:.0f} s of real time: "
            "it keeps checking something with `await asyncio.sleep(0)` while nothing else "
            "runs, so the clock can only creep along at real speed.  Polling burns CPU and "
            "wakes late; have it wait for what it needs instead: `await event.wait()` on an "
            "asyncio.Event that the other side sets (or await a Future, a Queue, a Task)")

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
    virtual loop then runs in a helper thread while the caller waits, and
    interrupting the caller stops it (see the module docstring).
    """
    if not asyncio.iscoroutine(coro):
        raise TypeError(f"run_virtual() needs a coroutine object, got {type(coro).__name__}")
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no loop in this thread; asyncio handles Ctrl-C
        with asyncio.Runner(loop_factory=lambda: VirtualClockLoop(
                start, stall_timeout=stall_timeout)) as runner:
            return runner.run(coro)
    return _HelperThreadRun(coro, VirtualClockLoop(start, stall_timeout=stall_timeout)).result()


class _HelperThreadRun:
    """One `run_virtual` in a daemon helper thread, for a caller whose thread runs a loop.

    The caller blocks in `result`; an interrupt there stops the helper (cancel
    its main task, then raise KeyboardInterrupt inside it) before it is
    raised on.  The thread is a daemon, so one that cannot be stopped (stuck
    in C code) never keeps the process from exiting.
    """

    def __init__(self, coro: Coroutine[Any, Any, T], loop: VirtualClockLoop) -> None:
        self.coro, self.loop = coro, loop
        self.main_task: Optional[asyncio.Task] = None
        self.outcome: concurrent.futures.Future = concurrent.futures.Future()
        self.thread = threading.Thread(target=self._run, name="virtual-clock", daemon=True)

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=lambda: self.loop) as runner:
                result = runner.run(self._main())
        except BaseException as exc:  # handed to the caller, KeyboardInterrupt included
            self.outcome.set_exception(exc)
        else:
            self.outcome.set_result(result)

    async def _main(self) -> Any:
        self.main_task = asyncio.current_task()
        return await self.coro

    def result(self) -> Any:
        try:
            self.thread.start()
            value = _wait(self.outcome)
        except KeyboardInterrupt:
            self._stop()
            raise
        finally:
            if self.outcome.done():
                self.thread.join()  # it has only to return now; a caller's loop need not wait on it
        return value

    def _stop(self) -> None:
        """Stop the helper: gently, then hard; give up waiting after that."""
        if self.main_task is not None:
            try:
                self.loop.call_soon_threadsafe(self.main_task.cancel)
            except RuntimeError:  # the loop has just closed
                return
        if _ended(self.outcome, INTERRUPT_GRACE):
            return
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(self.thread.ident), ctypes.py_object(KeyboardInterrupt))
        try:
            self.loop.call_soon_threadsafe(lambda: None)  # wake a loop waiting in select()
        except RuntimeError:
            pass
        _ended(self.outcome, INTERRUPT_GRACE)


# A blocked lock wait returns to Python for a signal on POSIX, but on Windows
# only from Python 3.14 on; there the caller waits in short slices so that a
# Ctrl-C is seen.  The result itself still arrives through the future.
_LOCK_WAITS_SEE_SIGNALS = sys.platform != "win32" or sys.version_info >= (3, 14)
_SIGNAL_SLICE = 0.2


def _nothing() -> None:
    """A callback that only wakes the loop."""


def _wait(future: concurrent.futures.Future) -> Any:
    if _LOCK_WAITS_SEE_SIGNALS:
        return future.result()
    while True:
        try:
            return future.result(_SIGNAL_SLICE)
        except concurrent.futures.TimeoutError:
            continue


def _ended(future: concurrent.futures.Future, seconds: float) -> bool:
    try:
        future.exception(seconds)
    except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
        return future.done()
    return True
