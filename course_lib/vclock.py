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
  ``asyncio.to_thread``) takes its *real* duration: until the job returns
  (even one whose await has timed out), the loop really waits and the
  virtual clock advances by the real time that passed.  A timeout can
  therefore still fire on a slow thread.  The same holds while a *foreign*
  thread is alive, one started during the run other than an executor's own
  workers (it may hand a result to the loop through
  ``call_soon_threadsafe`` or ``wrap_future``, as asyncio's own subprocess
  watcher does); when it ends, the clock may jump again at once.  Not
  watched: threads that were running when the loop was made (a thread pool
  made earlier and used through ``submit`` and ``wrap_future``: use
  ``run_in_executor``), and threads that ``threading`` did not start.
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
  zero sleeps in a row (fewer than `SPIN_GRACE`) take no virtual time.  What
  is recognised is a task's own ``sleep(0)``; a poll made some other way
  (``wait_for(..., 0)``, a new task each round) is not.  CPU work that
  yields with ``sleep(0)`` and nothing else for that long counts as polling
  too: give it to a thread.
* Any finite sleep is one jump, a start at ``time.time()`` or a sleep of
  years included: the clock's resolution grows with its magnitude.
  ``start`` and ``stall_timeout`` must be finite numbers (``ValueError``).
* If every coroutine is blocked and nothing outside the loop could answer
  (no timer, or only a ``sleep(inf)``; no thread), no timer can ever wake the
  program up.  On a real loop that is a silent hang; here the loop waits
  ``stall_timeout`` real seconds for outside I/O and then raises
  `VirtualClockStall`, naming the deadlock.  So does real I/O that stays
  silent that long with no timer left (on Python 3.12+ that includes a quiet
  subprocess, which asyncio watches through a pidfd rather than a thread).
  A live thread is never a deadlock: it may answer late.

`run_virtual` runs one coroutine on a fresh `VirtualClockLoop`.  It works from
a script, from a test and inside a running Jupyter kernel: when the calling
thread already runs a loop, the virtual loop runs in a helper thread and the
caller blocks until it is done; the kernel's own loop is never patched.
The coroutine sees the caller's context variables.  Interrupting the
caller (Ctrl-C, also under ``asyncio.run``; Jupyter's "interrupt kernel")
stops the helper too: its main task is cancelled, as `asyncio.run` does on
Ctrl-C, and if that has not ended it within `INTERRUPT_GRACE` seconds (a task
stuck in plain code, or one that ignores the cancellation), a
``KeyboardInterrupt`` is raised inside the helper thread and from each
later turn of its loop.  The caller gets its ``KeyboardInterrupt`` within
about twice `INTERRUPT_GRACE`, whatever the helper does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import ctypes
import math
import signal
import sys
import threading
import time
import weakref
from collections.abc import Coroutine, Iterator
from typing import Any, Optional, TypeVar

from ._numbers import is_finite_number

__all__ = ["VirtualClockLoop", "VirtualClockStall", "run_virtual"]

T = TypeVar("T")

SPIN_GRACE = 10_000
"""Rounds in a row of nothing but ``sleep(0)`` yields before virtual time follows real time."""

INTERRUPT_GRACE = 0.5
"""Seconds an interrupted helper thread gets to stop gently, and then again after a hard stop."""


# What outside the loop may still answer (`VirtualClockLoop._outside_work`).
_A_THREAD = "a thread"
_REAL_IO = "real I/O (a socket or a pipe)"


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
        if loop._interrupted:  # run_virtual's caller was interrupted: stop, whatever runs
            raise KeyboardInterrupt
        if timeout == 0:  # callbacks are ready: no waiting, no jump
            ready = self._real.select(0)
            loop._count_spin(busy_only_with_yields=not ready)
            return ready
        loop._count_spin(busy_only_with_yields=False)
        if timeout is not None and math.isinf(loop._scheduled[0]._when):
            timeout = None  # only a sleep(inf) is left: no timer will ever come due
        # Look outside first: a foreign thread that ends right after this has
        # already written its wake-up, which the poll below then sees.
        outside = loop._outside_work()
        ready = self._real.select(0)
        if ready:
            return ready
        if outside is None:
            if timeout is not None:
                loop._advance(math.inf)  # straight onto the next timer, however far away
                return []
            ready = self._real.select(loop.stall_timeout)
            if not ready:
                raise VirtualClockStall(
                    "virtual clock: every task is waiting, no timer is scheduled and "
                    f"no I/O arrived for {loop.stall_timeout:g} s; the program is deadlocked"
                )
            return ready
        # Something outside the loop may answer first: wait for real, and let
        # virtual time follow.  A live thread may take as long as it needs;
        # real I/O that stays silent while no timer is left is a deadlock.
        endless = timeout is None and outside != _A_THREAD
        started = time.monotonic()
        ready = self._real.select(loop.stall_timeout if endless else timeout)
        loop._advance(time.monotonic() - started)
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
        problem = _check_clock_args(start, stall_timeout)
        if problem:
            self.close()
            raise ValueError(problem)
        self._interrupted = False
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
        """Move the clock forward by *seconds*, but never past the next timer.

        Landing exactly on the timer (not on now + the select timeout, which
        asyncio caps at a day and float rounding can put a hair short) makes
        it come due; ``math.inf`` means "straight onto the next timer".
        """
        target = self._virtual_now + seconds
        if self._scheduled:
            target = min(target, self._scheduled[0]._when)
        self._virtual_now = max(self._virtual_now, target)

    # ------------------------------------------------------------ outside work

    def _outside_work(self) -> Optional[str]:
        """What outside the loop could still wake it, or None.

        A busy executor job, a live foreign thread (one started during the
        run, not an executor's own), or a socket or pipe the loop watches.
        """
        if self._threads_busy:
            return _A_THREAD
        me = threading.current_thread()
        for thread in threading.enumerate():
            if (thread is not me and thread not in self._threads_known
                    and not isinstance(thread, _NOT_JOINABLE)):
                self._wake_when_done(thread)
                return _A_THREAD
        if len(self._selector.get_map()) > 1:  # more than the loop's own wake-up pipe
            return _REAL_IO
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
        """As asyncio's, but the job counts as busy until *func* returns.

        Not until the awaiting future is done: a timeout or a cancellation
        ends that at once while the thread works on, and the clock must not
        jump past work that is still going on.
        """
        self._check_closed()
        if executor is None:
            executor = self._default_executor
            if executor is None:
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self.set_default_executor(executor)
        workers = getattr(executor, "_threads", None)  # a ThreadPoolExecutor's
        before = set(threading.enumerate()) if workers is None else ()
        job = executor.submit(func, *args)
        # The executor's own threads wait for work, not to wake the loop: not
        # foreign.  A thread the job itself starts is, so for a thread pool
        # only its workers count; another executor (a process pool, whose
        # jobs run elsewhere) owns the threads its submit started.
        self._threads_known.update(
            workers if workers is not None else set(threading.enumerate()) - before)
        self._threads_busy += 1
        job.add_done_callback(self._job_done)
        return asyncio.wrap_future(job, loop=self)

    def _job_done(self, _job: concurrent.futures.Future) -> None:
        """In the executor's thread, as the job returns."""
        try:
            self.call_soon_threadsafe(self._thread_done)
        except RuntimeError:  # the loop has closed meanwhile
            pass

    def _thread_done(self) -> None:
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
            self._advance(now - self._spin_mark)
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
    problem = _check_clock_args(start, stall_timeout)
    if problem:
        coro.close()  # it will never run: no "never awaited" warning on top of the error
        raise ValueError(problem)
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no loop in this thread; asyncio handles Ctrl-C
        with asyncio.Runner(loop_factory=lambda: VirtualClockLoop(
                start, stall_timeout=stall_timeout)) as runner:
            return runner.run(coro)
    return _HelperThreadRun(coro, VirtualClockLoop(start, stall_timeout=stall_timeout)).result()


class _HelperThreadRun:
    """One `run_virtual` in a daemon helper thread, for a caller whose thread runs a loop.

    The coroutine runs in a copy of the caller's context (its context
    variables, its decimal precision).  The caller blocks in `result`; an
    interrupt there stops the helper (cancel its main task; then raise
    KeyboardInterrupt inside the thread, and from every later turn of its
    loop) before it is raised on.  The thread is a daemon, so one that cannot
    be stopped (stuck in C code) never keeps the process from exiting.
    """

    def __init__(self, coro: Coroutine[Any, Any, T], loop: VirtualClockLoop) -> None:
        self.coro, self.loop = coro, loop
        self.context = contextvars.copy_context()
        self.main_task: Optional[asyncio.Task] = None
        self.stop_requested = False
        self.outcome: concurrent.futures.Future = concurrent.futures.Future()
        self.thread = threading.Thread(target=self._run, name="virtual-clock", daemon=True)

    def _run(self) -> None:
        runner = asyncio.Runner(loop_factory=lambda: self.loop)
        try:
            # The outcome goes to the caller as soon as the main task ends:
            # closing the loop may still wait for executor threads.
            try:
                result = runner.run(self._main(), context=self.context)
            except BaseException as exc:  # handed to the caller, KeyboardInterrupt included
                self.outcome.set_exception(exc)
            else:
                self.outcome.set_result(result)
            runner.close()
        except BaseException:  # a hard stop that landed while closing: the caller has gone
            if not self.loop.is_closed():
                self.loop.close()

    async def _main(self) -> Any:
        self.main_task = asyncio.current_task()
        if self.stop_requested:  # interrupted before the coroutine began: it never runs
            self.coro.close()
            raise asyncio.CancelledError
        return await self.coro

    def result(self) -> Any:
        try:
            with _ctrl_c_raises_here():
                self.thread.start()
                value = _wait(self.outcome)
        except KeyboardInterrupt:
            self._stop()
            raise
        except BaseException:
            self.thread.join()  # as on success below
            raise
        self.thread.join()  # closing the loop: a caller's own loop need not wait on it later
        return value

    def _stop(self) -> None:
        """Stop the helper: gently, then hard; give up waiting after that."""
        self.stop_requested = True  # seen by _main if it has not set main_task yet
        if self.main_task is not None:
            try:
                self.loop.call_soon_threadsafe(self.main_task.cancel)
            except RuntimeError:  # the loop has just closed
                return
        if _ended(self.outcome, INTERRUPT_GRACE):
            return
        self.loop._interrupted = True  # its next select() raises KeyboardInterrupt
        ctypes.pythonapi.PyThreadState_SetAsyncExc(  # and plain code raises it now
            ctypes.c_ulong(self.thread.ident), ctypes.py_object(KeyboardInterrupt))
        try:
            self.loop.call_soon_threadsafe(_nothing)  # wake a loop waiting in select()
        except RuntimeError:
            pass
        _ended(self.outcome, INTERRUPT_GRACE)


@contextlib.contextmanager
def _ctrl_c_raises_here() -> Iterator[None]:
    """Let Ctrl-C raise KeyboardInterrupt in this (main) thread while it waits.

    ``asyncio.run`` answers the first Ctrl-C by cancelling its main task,
    which cannot happen while that task's thread blocks in `run_virtual`;
    Jupyter already installs this handler while a cell runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:  # a handler installed from C: leave it alone
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# A blocked lock wait returns to Python for a signal on POSIX, but on Windows
# only from Python 3.14 on; there the caller waits in short slices so that a
# Ctrl-C is seen.  The result itself still arrives through the future.
_LOCK_WAITS_SEE_SIGNALS = sys.platform != "win32" or sys.version_info >= (3, 14)
_SIGNAL_SLICE = 0.2


# A thread that threading did not start (from C code or _thread) cannot be
# joined, and in 3.11 never leaves threading.enumerate(): it is not watched.
_NOT_JOINABLE = getattr(threading, "_DummyThread", ())


def _check_clock_args(start: Any, stall_timeout: Any) -> str:
    """What is wrong with these arguments, or ''."""
    if not is_finite_number(start):
        return f"start must be a finite int or float (seconds), got {start!r}"
    if not (is_finite_number(stall_timeout) and stall_timeout > 0):
        return f"stall_timeout must be a positive finite number of seconds, got {stall_timeout!r}"
    return ""


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
