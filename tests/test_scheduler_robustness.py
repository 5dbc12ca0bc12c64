"""Issue 15's rules for the scheduler, one test (or a few) per rule: numbers checked at the
boundary, generators refused, whatever a sync task raises fails its attempt, why_waiting
true before run(), memory that follows the tasks rather than max_workers, cancel() linear
in what it touches, abandoned threads capped and never keeping a program alive."""

import asyncio
import re
import reprlib
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from course_lib import (
    Attempt,
    SmartScheduler,
    Task,
    TaskSignatureError,
    TaskStatus,
    run_virtual,
)
from course_lib.scheduler.core import MAX_ABANDONED_THREADS, _ThreadCall


async def echo(value=None):
    return value


NAN, INF = float("nan"), float("inf")
HUGE = 10**400  # an int with no float: the loop clock cannot add it


@pytest.mark.parametrize("field, value", [
    ("priority", NAN), ("priority", INF), ("priority", True), ("priority", HUGE),
    ("timeout", NAN), ("timeout", INF), ("timeout", True), ("timeout", 0), ("timeout", HUGE),
    ("max_retries", True), ("max_retries", 1.0),
    ("retry_delay", NAN), ("retry_delay", INF), ("retry_delay", False), ("retry_delay", HUGE),
], ids=lambda v: "10**400" if v is HUGE else None)
def test_task_numbers_must_be_finite_real_numbers_not_bools(field, value):
    async def main():
        s = SmartScheduler()
        with pytest.raises(ValueError, match=field):
            await s.add_task(Task(id="t", func=echo, **{field: value}))
        return s.tasks

    assert run_virtual(main()) == {}


@pytest.mark.parametrize("option, value", [
    ("aging", NAN), ("aging", INF), ("aging", True), ("aging", HUGE),
    ("backoff_cap", NAN), ("backoff_cap", True), ("backoff_cap", HUGE),
    ("jitter", NAN), ("jitter", True), ("jitter", HUGE),
], ids=lambda v: "10**400" if v is HUGE else None)
def test_scheduler_numbers_must_be_finite_real_numbers_not_bools(option, value):
    # The message names the one parameter at fault and its value.
    with pytest.raises(ValueError, match=rf"^{option} must be .*got {re.escape(reprlib.repr(value))}$"):
        SmartScheduler(**{option: value})


def test_a_nan_priority_no_longer_scrambles_the_run_order():
    async def main():
        s = SmartScheduler(max_workers=1)
        order = []

        async def record(n):
            order.append(n)

        for n in (2, 0, 1, 3):
            await s.add_task(Task(id=f"t{n}", func=record, args=(n,), priority=n))
        with pytest.raises(ValueError, match="priority"):
            await s.add_task(Task(id="nan", func=record, args=("nan",), priority=NAN))
        await s.run()
        return order

    assert run_virtual(main()) == [0, 1, 2, 3]  # lower priority number first


async def agen():
    yield 1


def gen():
    yield 1


def test_a_generator_function_is_refused_with_what_to_write_instead():
    async def main():
        s = SmartScheduler()
        with pytest.raises(TaskSignatureError, match=r"async generator function.*async for"):
            await s.add_task(Task(id="agen", func=agen))
        with pytest.raises(TaskSignatureError, match=r"generator function.*list\(gen\(\)\)"):
            await s.add_task(Task(id="gen", func=gen))
        return s.tasks

    assert run_virtual(main()) == {}


def test_a_sync_function_that_returns_a_generator_fails_its_attempt_without_retries():
    async def main():
        s = SmartScheduler()
        await s.add_task(Task(id="agen", func=lambda: agen(), max_retries=3))
        await s.add_task(Task(id="gen", func=lambda: gen(), max_retries=3))
        await s.run()
        return {tid: (t.status, t.error, len(t.attempts)) for tid, t in s.tasks.items()}

    seen = run_virtual(main())
    for tid, advice in (("agen", "async for"), ("gen", "list(gen())")):
        status, error, attempts = seen[tid]
        assert (status, attempts) == (TaskStatus.FAILED, 1)
        assert isinstance(error, TaskSignatureError) and advice in str(error)


@pytest.mark.timeout(60)
def test_memory_follows_the_tasks_not_max_workers():
    async def main():
        s = SmartScheduler(max_workers=sys.maxsize)
        for n in range(3):
            await s.add_task(Task(id=f"t{n}", func=echo, args=(n,)))
        await s.run()
        return [t.status for t in s.tasks.values()], s._slots_made

    statuses, slots = run_virtual(main())
    assert statuses == [TaskStatus.COMPLETED] * 3 and slots <= 3


def test_why_waiting_before_run_names_unfinished_and_unknown_dependencies():
    async def main():
        s = SmartScheduler()
        await s.add_task(Task(id="up", func=echo))
        await s.add_task(Task(id="down", func=echo, dependencies=["up"]))
        said = [s.why_waiting("up", lang="en"), s.why_waiting("down", lang="en")]
        await s.add_task(Task(id="orphan", func=echo, dependencies=["ghost"]))
        return (*said, s.why_waiting("up", lang="en"),
                s.why_waiting("orphan", lang="en"), s.why_waiting("orphan", lang="zh"))

    up, down, up_now, orphan, orphan_zh = run_virtual(main())
    assert "ready, but the scheduler is not running" in up
    assert "will wait for its dependencies: up (pending)" in down
    assert "run() will refuse" in up_now and "'orphan' depends on 'ghost'" in up_now  # nothing runs
    assert "depends on ghost, which no task is called" in orphan
    assert "ghost 还不存在" in orphan_zh


def test_why_waiting_before_run_tells_of_a_failed_upstream_task_and_of_a_bad_graph():
    async def fails():
        raise ValueError("no")

    async def main():
        s = SmartScheduler()
        await s.add_task(Task(id="up", func=fails, max_retries=0))
        await s.run()
        await s.add_task(Task(id="down", func=echo, dependencies=["up"]))
        await s.add_task(Task(id="down2", func=echo, dependencies=["down"]))
        said = [s.why_waiting(tid, lang="en") for tid in ("down", "down2")]
        said.append(s.why_waiting("down2", lang="zh"))
        await s.run()  # and what it said comes true
        ended = [s.tasks[tid].status for tid in ("down", "down2")]

        bad = SmartScheduler()
        await bad.add_task(Task(id="a", func=echo, dependencies=["b"]))
        await bad.add_task(Task(id="b", func=echo, dependencies=["a"]))
        await bad.add_task(Task(id="c", func=echo))
        said += [bad.why_waiting(tid, lang="en") for tid in ("a", "c")]
        with pytest.raises(ValueError, match="cycle"):
            await bad.run()
        return said, ended

    said, ended = run_virtual(main())
    down, down2, down2_zh, a, c = said
    assert "'down' will be cancelled at once: its upstream task 'up' ended failed" in down
    assert "'down2' will be cancelled at once: its upstream task 'up' ended failed" in down2
    assert "会立刻被取消" in down2_zh and "失败" in down2_zh
    assert ended == [TaskStatus.CANCELLED, TaskStatus.CANCELLED]
    for text in (a, c):
        assert "run() will refuse" in text and "dependency cycle: a -> b -> a" in text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("timeout", [None, 5.0])
def test_whatever_a_sync_task_raises_ends_its_attempt_failed(timeout):
    def stops():
        raise StopIteration("done too early")

    async def main():
        s = SmartScheduler()
        await s.add_task(Task(id="t", func=stops, timeout=timeout))
        await s.run()
        task = s.tasks["t"]
        return task.status, type(task.error).__name__, str(task.error)

    status, kind, message = run_virtual(main())
    assert (status, kind) == (TaskStatus.FAILED, "RuntimeError") and "StopIteration" in message


@pytest.mark.timeout(60)  # linear: well under a second; quadratic (as it was): minutes
def test_cancel_before_run_is_linear_in_the_tasks_it_touches():
    n = 20_000

    async def main():
        chain = SmartScheduler()
        for i in reversed(range(n)):  # tail first: the worst order for a repeated scan
            await chain.add_task(Task(id=f"c{i}", func=echo, dependencies=[f"c{i - 1}"] if i else []))
        chain.cancel("c0")
        alone = SmartScheduler()
        for i in range(n):
            await alone.add_task(Task(id=f"a{i}", func=echo))
        for i in range(n):
            alone.cancel(f"a{i}")
        return ({t.status for t in chain.tasks.values()}, {t.status for t in alone.tasks.values()},
                str(chain.tasks[f"c{n - 1}"].error))

    chained, alone, error = run_virtual(main())
    assert chained == alone == {TaskStatus.CANCELLED}
    assert "c0" in error


@pytest.mark.timeout(60)
def test_threads_abandoned_by_timeouts_are_capped_with_a_clear_error():
    release = threading.Event()

    def blocks():
        release.wait(30)

    before = set(threading.enumerate())  # threads of other tests do not count

    async def main():
        s = SmartScheduler(max_workers=2)
        peaks = {"abandoned": 0, "threads": 0}

        def sample(_event):  # at every state change of the run
            ours = sum(t not in before and t.name == "scheduler-task" for t in threading.enumerate())
            peaks["abandoned"] = max(peaks["abandoned"], s._abandoned_threads)
            peaks["threads"] = max(peaks["threads"], ours)

        s.subscribe(sample)
        for n in range(MAX_ABANDONED_THREADS + 4):
            # 0.2 s: time enough for a thread to start (one that has not is skipped, not abandoned)
            await s.add_task(Task(id=f"t{n:02d}", func=blocks, timeout=0.2, max_retries=0))
        await s.run()
        sample(None)
        return [type(t.error).__name__ for t in s.tasks.values()], peaks

    try:
        errors, peaks = asyncio.run(main())
    finally:
        release.set()
    assert peaks["abandoned"] == MAX_ABANDONED_THREADS
    assert peaks["threads"] <= MAX_ABANDONED_THREADS + 2  # + the two running attempts
    assert errors.count("TimeoutError") + errors.count("AbandonedThreadsError") == len(errors)
    assert errors.count("AbandonedThreadsError") == 4


@pytest.mark.timeout(60)
def test_a_thread_abandoned_by_a_timeout_does_not_keep_the_program_from_exiting(tmp_path):
    script = tmp_path / "abandon.py"
    script.write_text(textwrap.dedent("""
        import asyncio, time
        from course_lib import SmartScheduler, Task

        async def main():
            s = SmartScheduler()
            await s.add_task(Task(id="slow", func=time.sleep, args=(60,), timeout=0.1,
                                  max_retries=0))
            await s.run()
            print(s.tasks["slow"].status.value, flush=True)

        asyncio.run(main())
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=30, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0 and done.stdout.strip() == "timeout", done.stderr


def test_abandoned_threads_are_counted_exactly_whenever_the_attempt_gives_up():
    # The three moments (the call starts, the attempt gives up, the call
    # returns) can come in any order; run here in this thread, in each order.
    s = SmartScheduler()

    early = Attempt(1, 0, 0.0)
    called = []
    call = _ThreadCall(s, early, called.append, ("ran",), {})
    call.give_up()  # before the thread got to the call: it is skipped
    assert call.run() is None and called == [] and not early.abandoned

    during = Attempt(1, 0, 0.0)

    def gives_up_while_running():
        call.give_up()  # as the loop does when the timeout fires mid-call
        counts.append(s._abandoned_threads)
        return "late"

    counts = []
    call = _ThreadCall(s, during, gives_up_while_running, (), {})
    assert call.run() == "late"
    assert during.abandoned and counts == [1] and s._abandoned_threads == 0

    after = Attempt(1, 0, 0.0)
    call = _ThreadCall(s, after, called.append, ("ran",), {})
    call.run()
    call.give_up()  # the call had returned: nothing was abandoned
    assert called == ["ran"] and not after.abandoned and s._abandoned_threads == 0
