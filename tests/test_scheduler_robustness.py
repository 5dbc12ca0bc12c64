"""Issue 15's rules for the scheduler: bad numbers, generator functions, memory that
follows the tasks rather than max_workers."""

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from course_lib import SmartScheduler, Task, TaskSignatureError, TaskStatus, run_virtual
from course_lib.scheduler.core import MAX_ABANDONED_THREADS


async def echo(value=None):
    return value


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("field, value", [
    ("priority", NAN), ("priority", INF), ("priority", True),
    ("timeout", NAN), ("timeout", INF), ("timeout", True), ("timeout", 0),
    ("max_retries", True), ("max_retries", 1.0),
    ("retry_delay", NAN), ("retry_delay", INF), ("retry_delay", False),
])
def test_task_numbers_must_be_finite_real_numbers_not_bools(field, value):
    async def main():
        s = SmartScheduler()
        with pytest.raises(ValueError, match=field):
            await s.add_task(Task(id="t", func=echo, **{field: value}))
        return s.tasks

    assert run_virtual(main()) == {}


@pytest.mark.parametrize("option, value", [
    ("aging", NAN), ("aging", INF), ("aging", True), ("backoff_cap", NAN), ("jitter", NAN),
])
def test_scheduler_numbers_must_be_finite_real_numbers_not_bools(option, value):
    with pytest.raises(ValueError, match="finite"):
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


def test_a_generator_function_is_refused_with_what_to_write_instead():
    async def agen():
        yield 1

    def gen():
        yield 1

    async def main():
        s = SmartScheduler()
        with pytest.raises(TaskSignatureError, match=r"async generator function.*async for"):
            await s.add_task(Task(id="agen", func=agen))
        with pytest.raises(TaskSignatureError, match=r"generator function.*list\(gen\(\)\)"):
            await s.add_task(Task(id="gen", func=gen))
        return s.tasks

    assert run_virtual(main()) == {}


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
        await s.add_task(Task(id="orphan", func=echo, dependencies=["ghost"]))
        return (s.why_waiting("up", lang="en"), s.why_waiting("down", lang="en"),
                s.why_waiting("orphan", lang="en"), s.why_waiting("orphan", lang="zh"))

    up, down, orphan, orphan_zh = run_virtual(main())
    assert "ready, but the scheduler is not running" in up
    assert "will wait for its dependencies: up (pending)" in down
    assert "depends on ghost, which no task is called" in orphan
    assert "ghost 还不存在" in orphan_zh


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

    async def main():
        s = SmartScheduler(max_workers=2)
        for n in range(MAX_ABANDONED_THREADS + 4):
            await s.add_task(Task(id=f"t{n:02d}", func=blocks, timeout=0.05, max_retries=0))
        await s.run()
        live = sum(t.name == "scheduler-task" for t in threading.enumerate())
        return [type(t.error).__name__ for t in s.tasks.values()], live

    try:
        errors, live = asyncio.run(main())
    finally:
        release.set()
    assert live <= MAX_ABANDONED_THREADS
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
