"""course_lib.run_virtual: a deterministic virtual clock for any coroutine."""

import asyncio
import gc
import math
import os
import socket
import textwrap
import threading
import time
import warnings

import pytest
import pytest_asyncio  # noqa: F401  (the asyncio marker below)

from course_lib import VirtualClockLoop, VirtualClockStall, run_virtual


class Boom(Exception):
    pass


def _no_warnings(fn):
    """Run *fn*, collect garbage, and return (result, every warning raised meanwhile)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
        gc.collect()
    return result, caught


# ---------------------------------------------------------------- exactness

@pytest.mark.timeout(60)  # an hour of sleeps: the bound shows they took no real time
def test_sleeps_wake_in_order_at_exact_virtual_times_without_real_waiting():
    async def main():
        loop = asyncio.get_running_loop()
        woke = []

        async def sleeper(name, seconds):
            await asyncio.sleep(seconds)
            woke.append((name, loop.time()))

        await asyncio.gather(sleeper("c", 3.0), sleeper("a", 0.001), sleeper("d", 3600.0),
                             sleeper("b", 2.5), sleeper("a2", 0.001))
        return woke, loop.time(), type(loop)

    woke, end, loop_type = run_virtual(main())  # an hour of sleeps; the test's timeout bounds it
    assert woke == [("a", 0.001), ("a2", 0.001), ("b", 2.5), ("c", 3.0), ("d", 3600.0)]
    assert end == 3600.0
    assert issubclass(loop_type, VirtualClockLoop)


def test_clock_starts_at_zero_or_at_start_and_sums_sleeps_exactly():
    async def main(steps):
        loop = asyncio.get_running_loop()
        begin = loop.time()
        for step in steps:
            await asyncio.sleep(step)
        return begin, loop.time()

    steps = [0.1] * 10 + [1 / 3, 7.25]
    expected = 0.0
    for step in steps:
        expected += step
    assert run_virtual(main(steps)) == (0.0, expected)
    assert run_virtual(main([5.0]), start=100.0) == (100.0, 105.0)


def test_call_later_and_call_at_fire_at_their_virtual_time():
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        done = loop.create_future()
        loop.call_later(2.0, lambda: fired.append(("later", loop.time())))
        loop.call_at(1.5, lambda: fired.append(("at", loop.time())))
        loop.call_later(3.0, done.set_result, None)
        await done
        return fired

    assert run_virtual(main()) == [("at", 1.5), ("later", 2.0)]


def test_zero_sleeps_take_no_virtual_time():
    async def main():
        for _ in range(1000):
            await asyncio.sleep(0)
        return asyncio.get_running_loop().time()

    assert run_virtual(main()) == 0.0


# ---------------------------------------------------------------- timeouts

def test_wait_for_times_out_at_exactly_its_deadline():
    async def main():
        loop = asyncio.get_running_loop()
        cancelled = []

        async def slow():
            try:
                await asyncio.sleep(100)
            except asyncio.CancelledError:
                cancelled.append(loop.time())
                raise

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(slow(), timeout=2.5)
        return loop.time(), cancelled

    assert run_virtual(main()) == (2.5, [2.5])


def test_asyncio_timeout_context_and_a_task_that_beats_its_timeout():
    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.sleep(1.5)
        at_timeout = loop.time()
        value = await asyncio.wait_for(asyncio.sleep(0.5, result="ok"), timeout=1.0)
        return at_timeout, value, loop.time()

    assert run_virtual(main()) == (1.0, "ok", 1.5)


# ------------------------------------------------------- results and errors

def test_returns_the_coroutines_result():
    async def main():
        await asyncio.sleep(10)
        return {"answer": 42}

    assert run_virtual(main()) == {"answer": 42}


def test_propagates_the_coroutines_exception():
    async def main():
        await asyncio.sleep(1)
        raise Boom("from inside")

    with pytest.raises(Boom, match="from inside"):
        run_virtual(main())


def test_rejects_what_is_not_a_coroutine():
    async def main():
        return 1

    with pytest.raises(TypeError):
        run_virtual(main)
    with pytest.raises(TypeError):
        run_virtual(None)


def test_every_call_gets_a_fresh_loop_that_is_closed_afterwards():
    async def main():
        return asyncio.get_running_loop()

    first, second = run_virtual(main()), run_virtual(main())
    assert first is not second
    assert first.is_closed() and second.is_closed()
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()  # nothing left running in this thread


# ------------------------------------------------ where it can be called from

async def _virtual_nap():
    await asyncio.sleep(60)
    return asyncio.get_running_loop().time(), threading.current_thread().name


@pytest.mark.timeout(30)  # a real minute would mean the clock did not jump
def test_works_from_a_coroutine_run_by_asyncio_run():
    async def outer():
        outer_loop = asyncio.get_running_loop()
        t0 = outer_loop.time()
        result = run_virtual(_virtual_nap())
        return result, outer_loop.time() - t0

    (virtual_end, thread_name), outer_elapsed = asyncio.run(outer())
    assert virtual_end == 60.0
    assert thread_name != threading.current_thread().name  # a helper thread, not our loop's


@pytest.mark.asyncio
async def test_works_inside_an_async_test_with_its_loop_running():
    own_loop = asyncio.get_running_loop()
    virtual_end, _ = run_virtual(_virtual_nap())
    assert virtual_end == 60.0
    assert asyncio.get_running_loop() is own_loop  # our loop was not replaced or patched
    assert not isinstance(own_loop, VirtualClockLoop)
    await asyncio.sleep(0)  # and it still works


def test_exceptions_cross_the_helper_thread_too():
    async def failing():
        await asyncio.sleep(1)
        raise Boom("through the thread")

    async def outer():
        return run_virtual(failing())

    with pytest.raises(Boom, match="through the thread"):
        asyncio.run(outer())


def test_nested_virtual_runs():
    async def inner():
        await asyncio.sleep(5)
        return asyncio.get_running_loop().time()

    async def outer():
        await asyncio.sleep(1)
        return run_virtual(inner()), asyncio.get_running_loop().time()

    assert run_virtual(outer()) == (5.0, 1.0)


# ------------------------------------------------------------------ threads

def test_work_in_threads_takes_real_time():
    async def main():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.to_thread(time.sleep, 0.05)
        return loop.time() - t0

    elapsed = run_virtual(main())
    assert elapsed >= 0.04  # the thread's real 0.05 s, not a jump and not zero


@pytest.mark.timeout(60)  # 500 real seconds would mean the clock did not jump
def test_virtual_sleeps_alongside_a_thread_still_cost_no_real_time():
    async def main():
        loop = asyncio.get_running_loop()
        thread = asyncio.ensure_future(asyncio.to_thread(time.sleep, 0.02))
        await asyncio.sleep(500)
        await thread
        return loop.time()

    assert run_virtual(main()) >= 500.0


def test_a_timeout_can_fire_on_a_slow_thread():
    release = threading.Event()

    async def main():
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.to_thread(release.wait, 5), timeout=0.05)
            return asyncio.get_running_loop().time()
        finally:
            release.set()  # else closing the loop waits for the default executor's thread

    assert 0.05 <= run_virtual(main()) < 5  # it fired before the thread's 5 s were up


# ---------------------------------------------------------------- deadlocks

def test_a_deadlock_raises_virtual_clock_stall_quickly():
    async def main():
        await asyncio.get_running_loop().create_future()  # nobody will ever resolve it

    with pytest.raises(VirtualClockStall, match="deadlock"):
        run_virtual(main(), stall_timeout=0.1)
    assert issubclass(VirtualClockStall, RuntimeError)


def test_a_deadlock_between_two_tasks_is_named_not_hung():
    async def main():
        a_ready, b_ready = asyncio.Event(), asyncio.Event()

        async def a():
            await b_ready.wait()
            a_ready.set()

        async def b():
            await a_ready.wait()
            b_ready.set()

        await asyncio.gather(a(), b())

    with pytest.raises(VirtualClockStall):
        run_virtual(main(), stall_timeout=0.1)


def test_a_long_timer_is_not_a_deadlock():
    async def main():
        await asyncio.sleep(10**6)
        return asyncio.get_running_loop().time()

    assert run_virtual(main(), stall_timeout=0.05) == 10**6


# ---------------------------------------------------------------- hygiene

def test_no_warnings_and_no_pending_tasks_left_behind():
    async def main():
        async def forever():
            await asyncio.sleep(10**9)

        background = asyncio.ensure_future(forever())  # cancelled by the runner at the end
        await asyncio.sleep(3)
        assert not background.done()
        return "done"

    result, caught = _no_warnings(lambda: run_virtual(main()))
    assert result == "done"
    assert [str(w.message) for w in caught] == []


def test_no_warnings_from_the_helper_thread_path():
    async def outer():
        return run_virtual(_virtual_nap())

    result, caught = _no_warnings(lambda: asyncio.run(outer()))
    assert result[0] == 60.0
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("start, seconds", [(0.0, 3e7), (2.0**25, 5.0), (None, 1.5), (1e12, 0.25)])
def test_timers_fire_at_any_magnitude_of_virtual_time(start, seconds):
    """Far from zero a nanosecond is lost in float rounding; timers must still come due."""
    start = time.time() if start is None else start

    async def main():
        loop = asyncio.get_running_loop()
        await asyncio.sleep(seconds)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), seconds)
        return loop.time()

    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(run_virtual(main(), start=start)),
                              daemon=True)
    worker.start()
    worker.join(30)  # a bound for the livelock this test guards against
    assert outcome and outcome[0] == pytest.approx(start + 2 * seconds, rel=1e-12)


# ---------------------------------------------------------------- busy-waiting (issue 15, item 6)

@pytest.mark.timeout(60)
def test_busy_waiting_for_a_flag_that_a_timer_sets_ends_as_on_a_real_loop():
    async def main():
        loop = asyncio.get_running_loop()
        flag = []
        loop.call_later(0.3, flag.append, True)
        polls = 0
        while not flag:  # the polling the course teaches against; it must still end
            polls += 1
            await asyncio.sleep(0)
        return loop.time(), polls

    now, polls = run_virtual(main())
    assert 0.3 <= now < 5  # the clock crept up to the timer at real speed, as on a real loop
    assert polls > 1


@pytest.mark.timeout(60)
def test_busy_waiting_that_nothing_can_end_is_named_in_a_virtual_clock_stall():
    async def main():
        never = asyncio.Event()  # nobody sets it
        while not never.is_set():
            await asyncio.sleep(0)

    async def named():
        await asyncio.create_task(main(), name="poller")

    with pytest.raises(VirtualClockStall, match=r"'?poller'? has been busy-waiting") as caught:
        run_virtual(named(), stall_timeout=0.5)
    assert "await event.wait()" in str(caught.value)


def test_yields_interleaved_with_other_work_take_no_virtual_time():
    async def main():
        loop = asyncio.get_running_loop()

        async def cooperative(n):
            for _ in range(n):
                await asyncio.sleep(0)

        # 30,000 rounds, but never only yields: two tasks hand a queue item back and forth
        queue = asyncio.Queue()

        async def producer():
            for i in range(15_000):
                await queue.put(i)
                await asyncio.sleep(0)

        async def consumer():
            for _ in range(15_000):
                await queue.get()

        await asyncio.gather(producer(), consumer(), cooperative(5_000))
        return loop.time()

    assert run_virtual(main()) == 0.0


# ---------------------------------------------------------------- the world outside (item 7)

def _later_from_a_foreign_thread(seconds, deliver, *args):
    """Call deliver(*args) after *seconds* real seconds, from a thread started here
    (not through run_in_executor): the loop cannot know it will answer."""
    def foreign():
        threading.Event().wait(seconds)
        deliver(*args)

    threading.Thread(target=foreign, daemon=True).start()


def _slow_peer(delay):
    """A socket whose other end, served by a thread started *before* the loop, answers after *delay* real seconds."""
    ours, theirs = socket.socketpair()

    def serve():
        theirs.recv(100)
        threading.Event().wait(delay)  # the peer is slow in real time
        theirs.sendall(b"pong\n")

    threading.Thread(target=serve, daemon=True).start()
    return ours, theirs


@pytest.mark.timeout(60)
def test_a_timeout_around_real_socket_io_counts_real_time():
    ours, theirs = _slow_peer(0.3)

    async def main():
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection(sock=ours)
        writer.write(b"ping\n")
        line = await asyncio.wait_for(reader.readline(), 5)  # fired at once before: t jumped to 5
        writer.close()
        await writer.wait_closed()
        return line, loop.time()

    try:
        line, now = run_virtual(main())
    finally:
        theirs.close()
    assert line == b"pong\n"
    assert 0 < now < 5


@pytest.mark.timeout(60)
def test_a_timeout_around_a_subprocess_counts_real_time():
    import sys

    async def main():
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(5):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import time; time.sleep(0.3)")
            code = await proc.wait()
        return code, loop.time()

    code, now = run_virtual(main())
    assert code == 0 and 0 < now < 5


@pytest.mark.timeout(60)
@pytest.mark.parametrize("handoff", ["wrap_future", "call_soon_threadsafe"])
def test_a_timeout_around_a_foreign_thread_counts_real_time(handoff):
    import concurrent.futures

    async def main():
        loop = asyncio.get_running_loop()
        if handoff == "wrap_future":
            answer = concurrent.futures.Future()
            waiting = asyncio.wrap_future(answer)
            _later_from_a_foreign_thread(0.3, answer.set_result, "late but in time")
        else:
            waiting = loop.create_future()
            _later_from_a_foreign_thread(0.3, loop.call_soon_threadsafe, waiting.set_result,
                                         "late but in time")
        return await asyncio.wait_for(waiting, 5), loop.time()

    result, now = run_virtual(main())
    assert result == "late but in time" and 0 < now < 5


@pytest.mark.timeout(60)
def test_the_clock_jumps_again_once_the_outside_world_is_done():
    async def main():
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(time.sleep, 0.01)  # its pool thread stays, idle: not foreign
        helper = threading.Thread(target=lambda: None)
        helper.start()
        helper.join()  # a foreign thread that has ended holds nothing
        ours, theirs = socket.socketpair()
        theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours)
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()  # a closed socket holds nothing
        start = loop.time()
        await asyncio.sleep(10**6)  # at real speed this would outlast the test's timeout
        return loop.time() - start

    assert run_virtual(main()) == 10**6


@pytest.mark.timeout(60)
def test_a_silent_socket_with_no_timer_left_is_a_deadlock():
    ours, theirs = socket.socketpair()

    async def main():
        reader, writer = await asyncio.open_connection(sock=ours)
        try:
            await reader.readline()  # the peer never writes
        finally:
            writer.close()

    try:
        with pytest.raises(VirtualClockStall, match="deadlocked"):
            run_virtual(main(), stall_timeout=0.3)
    finally:
        theirs.close()


# ---------------------------------------------------------------- interrupting (item 5)

_INTERRUPTED_IN_A_RUNNING_LOOP = textwrap.dedent("""
    import asyncio, signal, sys, threading, time
    import course_lib.vclock as vclock
    from course_lib import run_virtual

    vclock._LOCK_WAITS_SEE_SIGNALS = {signals_break_waits}

    def interrupt_button():  # what Jupyter's "interrupt kernel" does: SIGINT to the kernel
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    async def endless():
        try:
            interrupt_button()
            if {kind!r} == "stuck_in_plain_code":
                while True:  # no await, so no cancellation lands
                    pass
            if {kind!r} == "waiting_on_a_thread":
                await asyncio.to_thread(time.sleep, 2)
            while True:
                try:
                    await asyncio.sleep(1)  # virtual time races on, forever
                except asyncio.CancelledError:
                    if {kind!r} != "swallowing_cancellation":
                        raise
        finally:
            print("cleaned up", flush=True)

    async def cell():  # a notebook cell: a loop is running
        try:
            run_virtual(endless())
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        helpers = [thread for thread in threading.enumerate() if thread.name == "virtual-clock"]
        for thread in helpers:
            thread.join(20)
        print("helper alive" if any(t.is_alive() for t in helpers) else "helper stopped", flush=True)

    if {caller!r} == "asyncio_run":  # its own SIGINT handler only cancels its main task
        asyncio.run(cell())
    else:
        asyncio.new_event_loop().run_until_complete(cell())  # as in Jupyter
""")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind, caller, signals_break_waits", [
    ("awaiting", "kernel_loop", True),
    ("awaiting", "kernel_loop", False),  # the sliced wait Windows needs before Python 3.14
    ("awaiting", "asyncio_run", True),
    ("stuck_in_plain_code", "kernel_loop", True),
    ("swallowing_cancellation", "kernel_loop", True),
    ("waiting_on_a_thread", "kernel_loop", True),
])
@pytest.mark.skipif(not hasattr(__import__("signal"), "pthread_kill"), reason="needs signal.pthread_kill (POSIX)")
def test_interrupting_a_run_virtual_in_a_running_loop_stops_its_helper_thread(
        kind, caller, signals_break_waits, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "cell.py"
    script.write_text(_INTERRUPTED_IN_A_RUNNING_LOOP.format(
        kind=kind, caller=caller, signals_break_waits=signals_break_waits))
    root = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": root})
    assert done.returncode == 0, done.stderr  # the process exits: nothing left that blocks it
    lines = done.stdout.splitlines()
    # The caller got its KeyboardInterrupt at the first Ctrl-C, and the helper thread ended ...
    assert "interrupted" in lines and "helper stopped" in lines, done.stdout + done.stderr
    # ... after its finally ran (a task that swallows the cancellation is stopped hard, so
    # its finally may run only when the coroutine is collected).
    if kind != "swallowing_cancellation":
        assert lines.index("cleaned up") < lines.index("helper stopped")


@pytest.mark.timeout(60)
def test_a_foreign_thread_that_ends_without_a_word_frees_the_clock_at_once():
    async def main():
        loop = asyncio.get_running_loop()
        quiet = threading.Thread(target=threading.Event().wait, args=(0.2,), daemon=True)
        quiet.start()  # it never calls the loop; its end alone must let the clock jump
        await asyncio.sleep(10**6)  # at real speed this would outlast the test's timeout
        return loop.time(), quiet.is_alive()

    now, alive = run_virtual(main())
    assert now == 10**6 and not alive


@pytest.mark.timeout(60)
def test_a_nested_run_virtual_does_not_hold_the_outer_clock():
    async def inner():
        await asyncio.sleep(5)
        return asyncio.get_running_loop().time()

    async def outer():
        first = run_virtual(inner())  # its helper thread is started during the outer run
        await asyncio.sleep(10**6)
        return first, asyncio.get_running_loop().time()

    assert run_virtual(outer()) == (5.0, 10**6)


# ---------------------------------------------------------------- adversarial review, round 2

@pytest.mark.timeout(60)
@pytest.mark.parametrize("then", ["to_thread", "getaddrinfo"])
def test_an_executor_job_does_not_stop_the_clock_watching_a_foreign_thread(then):
    async def main():
        loop = asyncio.get_running_loop()
        answer = loop.create_future()
        _later_from_a_foreign_thread(0.3, loop.call_soon_threadsafe, answer.set_result, "answer")
        if then == "to_thread":
            await asyncio.to_thread(lambda: None)
        else:
            await loop.getaddrinfo("localhost", 80)
        return await asyncio.wait_for(answer, 5), loop.time()

    result, now = run_virtual(main())
    assert result == "answer" and 0 < now < 5


@pytest.mark.timeout(60)
def test_a_thread_that_an_executor_job_starts_is_watched():
    import concurrent.futures

    async def main():
        loop = asyncio.get_running_loop()
        answer = loop.create_future()

        def job():  # the pool is new, so its worker starts just for this job
            _later_from_a_foreign_thread(0.2, loop.call_soon_threadsafe, answer.set_result,
                                         "from the job's thread")

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            await loop.run_in_executor(pool, job)
            return await asyncio.wait_for(answer, 5), loop.time()

    result, now = run_virtual(main())
    assert result == "from the job's thread" and 0 < now < 5


@pytest.mark.timeout(60)
def test_a_thread_job_whose_await_timed_out_holds_the_clock_until_it_returns():
    async def main():
        loop = asyncio.get_running_loop()
        written = []

        def work():
            threading.Event().wait(0.5)
            written.append(loop.time())

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(work), 0.05)
        await asyncio.sleep(2)  # on a real loop the work is done by now
        return written

    assert len(run_virtual(main())) == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("outside", ["subprocess", "foreign_thread"])
def test_a_slow_subprocess_or_thread_is_not_a_deadlock(outside):
    import sys

    async def main():
        loop = asyncio.get_running_loop()
        if outside == "subprocess":
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import time; time.sleep(1)")
            return await proc.wait()
        done = loop.create_future()
        _later_from_a_foreign_thread(1, loop.call_soon_threadsafe, done.set_result, 0)
        return await done  # no timer at all: only the thread can end this

    assert run_virtual(main(), stall_timeout=0.3) == 0


def test_context_variables_reach_the_coroutine_on_the_helper_thread_path():
    import contextvars

    user = contextvars.ContextVar("user", default="<unset>")

    async def inside():
        return user.get()

    async def cell():
        user.set("bob")
        return run_virtual(inside())

    assert asyncio.run(cell()) == "bob"


@pytest.mark.timeout(60)
def test_any_finite_sleep_is_one_jump_and_an_infinite_one_is_a_deadlock():
    async def sleep(seconds):
        await asyncio.sleep(seconds)
        return asyncio.get_running_loop().time()

    assert run_virtual(sleep(1e15)) == 1e15  # not a day at a time
    with pytest.raises(VirtualClockStall, match="deadlocked"):
        run_virtual(sleep(math.inf), stall_timeout=0.2)


@pytest.mark.parametrize("option, value", [
    ("start", math.nan), ("start", math.inf), ("start", True), ("start", "5"), ("start", 10**400),
    ("stall_timeout", math.nan), ("stall_timeout", -1), ("stall_timeout", 0), ("stall_timeout", True),
])
def test_clock_options_must_be_finite_numbers(option, value):
    async def main():
        return "ran"

    def bad_run():
        with pytest.raises(ValueError, match=option):
            run_virtual(main(), **{option: value})

    _, caught = _no_warnings(bad_run)  # the coroutine that never ran is closed quietly
    assert [str(w.message) for w in caught] == []
    with pytest.raises(ValueError, match=option):
        VirtualClockLoop(**{option: value})


@pytest.mark.timeout(60)
def test_a_process_pool_used_through_run_in_executor_does_not_hold_the_clock():
    import concurrent.futures
    import multiprocessing
    import operator

    async def main():
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            negated = await loop.run_in_executor(pool, operator.neg, 7)
            start = loop.time()  # the pool's own threads (its manager, its queue feeder) live on
            await asyncio.sleep(10**6)  # at real speed this would outlast the test's timeout
            return negated, loop.time() - start

    assert run_virtual(main()) == (-7, 10**6)


def test_an_interrupt_before_the_helpers_coroutine_began_means_it_never_runs():
    from course_lib.vclock import _HelperThreadRun

    ran = []

    async def body():
        ran.append(True)

    def interrupted_early():
        run = _HelperThreadRun(body(), VirtualClockLoop())
        run.stop_requested = True  # what _stop() sets first, before the helper got going
        run.thread.start()
        run.thread.join(30)
        return run.outcome.exception(0)

    error, caught = _no_warnings(interrupted_early)
    assert ran == [] and isinstance(error, asyncio.CancelledError)
    assert [str(w.message) for w in caught] == []  # the coroutine was closed, not left unawaited
