"""The chapter's reference solution: each of its known bugs, reproduced.

These tests pin down the specimen that notebook 05 and the grader take
apart; if one of them stops failing the way the chapter's code does, the
course text about it is wrong.
"""

import asyncio

import pytest

import course_lib
from course_lib import run_virtual
from course_lib.chapter_reference import chapter_test_scheduler, load


def test_as_printed_it_crashes_on_the_chapters_own_test():
    with pytest.raises(AttributeError, match="'set' object has no attribute 'append'"):
        run_virtual(chapter_test_scheduler(load()))


def test_ours_passes_the_same_unchanged_test(capsys):
    run_virtual(chapter_test_scheduler(course_lib))
    assert "task-b: completed - B完成（依赖: A完成）" in capsys.readouterr().out


def test_the_chapter_test_hands_back_its_scheduler_and_passes_run_options_on(capsys):
    scheduler = run_virtual(chapter_test_scheduler(course_lib, monitor="text"))
    assert isinstance(scheduler, course_lib.SmartScheduler)
    assert sorted(scheduler.tasks) == ["task-a", "task-b", "task-c", "task-fail"]
    assert "已结束 4/4" in capsys.readouterr().out  # the text dashboard ran


def _run(ref, tasks, max_workers=3, limit=None):
    async def main():
        scheduler = ref.SmartScheduler(max_workers=max_workers)
        for task in tasks:
            await scheduler.add_task(task)
        run = scheduler.run()
        results = await (run if limit is None else asyncio.wait_for(run, limit))
        return results, asyncio.get_running_loop().time()

    return run_virtual(main())


def test_fixed_crash_still_injects_a_keyword_the_chapters_task_b_cannot_take(capsys):
    run_virtual(chapter_test_scheduler(load(fixed=True)))
    out = capsys.readouterr().out
    assert "task-b: failed" in out
    assert "unexpected keyword argument 'dependencies'" in out


def test_fixed_crash_still_never_finishes_after_a_failed_dependency():
    ref = load(fixed=True)

    async def boom():
        raise RuntimeError("upstream broke")

    async def downstream(**_):
        return "never"

    tasks = [
        ref.Task(id="a", func=boom, max_retries=0),
        ref.Task(id="b", func=downstream, dependencies={"a"}),
    ]
    # 1000 s of loop time is plenty; the reference keeps polling forever.
    with pytest.raises(TimeoutError):
        _run(ref, tasks, limit=1000)


def test_fixed_crash_still_polls_one_tenth_of_a_second_per_round():
    ref = load(fixed=True)

    async def instant(**_):
        return None

    chain = [ref.Task(id=str(i), func=instant, dependencies={str(i - 1)} if i else set())
             for i in range(10)]
    _, loop_time = _run(ref, chain)
    assert loop_time == pytest.approx(1.0)  # ten rounds of sleep(0.1) for zero seconds of work


async def _record_start(**_):
    return asyncio.get_running_loop().time()


async def _always_fails():
    raise RuntimeError("try again")


@pytest.mark.parametrize("implementation, other_starts_at", [
    (load(fixed=True), 5.0),  # the only worker sits idle through flaky's 5 s backoff
    (course_lib, 0.0),  # ours frees the slot while flaky backs off
], ids=["chapter-reference", "ours"])
def test_backoff_and_worker_slots(implementation, other_starts_at):
    tasks = [
        implementation.Task(id="flaky", func=_always_fails, priority=0, max_retries=1, retry_delay=5.0),
        implementation.Task(id="other", func=_record_start, priority=1),
    ]
    results, _ = _run(implementation, tasks, max_workers=1)
    assert results["other"].result == other_starts_at
