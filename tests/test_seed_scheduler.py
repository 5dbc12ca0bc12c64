"""The chapter's own ``test_scheduler()`` (6.4, 挑战 1), unchanged, against course_lib.

``seed_test_scheduler`` below is the chapter's ``test_scheduler``, kept
verbatim in `course_lib.chapter_reference`, with its globals ``asyncio``,
``SmartScheduler`` and ``Task`` supplied here.  The tests run it on the
virtual clock and, once, on a real event loop with its time scaled down.
"""

import asyncio
import inspect
import pathlib
import types

import pytest

import course_lib
from course_lib import chapter_reference
from course_lib import SmartScheduler, Task, TaskStatus, run_virtual


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def _with_globals(scheduler_cls=SmartScheduler, task_factory=Task, asyncio_module=asyncio):
    """The chapter's ``test_scheduler`` with these globals (its code object is untouched)."""
    names = {"asyncio": asyncio_module, "SmartScheduler": scheduler_cls, "Task": task_factory,
             "__builtins__": __builtins__}
    return types.FunctionType(chapter_reference.test_scheduler.__code__, names, "test_scheduler")


seed_test_scheduler = _with_globals()


def _recording_scheduler():
    """A SmartScheduler subclass that remembers its instances, to read their event logs."""
    made = []

    class Recording(SmartScheduler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    return Recording, made


def _run_spans(events):
    """{task_id: [(start, end), ...]} of every attempt, read from the event log."""
    spans, open_at = {}, {}
    for e in events:
        if e.new is TaskStatus.RUNNING:
            open_at[e.task_id] = e.time
        elif e.old is TaskStatus.RUNNING:
            spans.setdefault(e.task_id, []).append((open_at.pop(e.task_id), e.time))
    return spans


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

def test_seed_test_is_the_chapters_code_verbatim():
    ours = inspect.getsource(chapter_reference.test_scheduler).rstrip("\n")
    assert ours.startswith("async def test_scheduler():\n    scheduler = SmartScheduler(max_workers=3)")
    seed = pathlib.Path(__file__).resolve().parents[2] / "shared" / "seed" / "6.4-小结和复习.md"
    if seed.exists():  # the course workspace also has the chapter itself
        assert ours in seed.read_text(encoding="utf-8")


def test_seed_test_prints_b_with_a_result(capsys):
    run_virtual(seed_test_scheduler())
    out = capsys.readouterr().out
    assert "B完成（依赖: A完成）" in out
    assert "task-b: completed - B完成（依赖: A完成）" in out
    assert "task-a: completed - A完成" in out
    assert "task-c: completed - C完成" in out
    assert "task-fail: failed - 模拟失败" in out
    assert "=== 统计信息 ===" in out


def test_seed_test_event_log_has_the_issues_timeline(monkeypatch, capsys):
    recording, made = _recording_scheduler()
    monkeypatch.setitem(seed_test_scheduler.__globals__, "SmartScheduler", recording)
    run_virtual(seed_test_scheduler())
    assert "B完成（依赖: A完成）" in capsys.readouterr().out
    (scheduler,) = made
    spans = _run_spans(scheduler.event_log)
    assert spans["task-a"] == [(0.0, 1.0)]
    assert spans["task-c"] == [(0.0, 0.5)]
    assert spans["task-b"] == [(1.0, 2.0)]
    # task-fail: 1 + max_retries = 3 attempts, backing off 1 s then 2 s.
    assert spans["task-fail"] == [(0.0, 0.0), (1.0, 1.0), (3.0, 3.0)]
    tasks = scheduler.tasks
    assert tasks["task-b"].result == "B完成（依赖: A完成）"
    assert tasks["task-fail"].status is TaskStatus.FAILED
    assert tasks["task-fail"].retries == 2
    assert str(tasks["task-fail"].error) == "模拟失败"
    stats = scheduler.get_stats()
    assert stats["completed"] == 3 and stats["failed"] == 1 and stats["total"] == 4
    assert stats["elapsed"] == 3.0


def test_seed_test_body_on_a_real_loop_with_time_scaled_down(capsys):
    """The same unchanged body on asyncio.run, with sleeps and backoff 100x shorter."""
    recording, made = _recording_scheduler()

    async def short_sleep(seconds):
        await asyncio.sleep(seconds / 100)

    fast_asyncio = types.SimpleNamespace(sleep=short_sleep)

    def short_task(**fields):
        fields.setdefault("retry_delay", 0.01)
        return Task(**fields)

    asyncio.run(_with_globals(recording, short_task, fast_asyncio)())
    out = capsys.readouterr().out
    assert "task-b: completed - B完成（依赖: A完成）" in out
    (scheduler,) = made
    log = scheduler.event_log
    index = {(e.task_id, e.new): i for i, e in enumerate(log)}
    assert index[("task-a", TaskStatus.COMPLETED)] < index[("task-b", TaskStatus.RUNNING)]
    assert {t.status for t in scheduler.tasks.values()} == {TaskStatus.COMPLETED, TaskStatus.FAILED}
    assert scheduler.tasks["task-fail"].retries == 2


def test_seed_test_runs_from_inside_a_running_loop(capsys):
    async def outer():
        return run_virtual(seed_test_scheduler())

    assert asyncio.run(outer()) is None
    assert "B完成（依赖: A完成）" in capsys.readouterr().out


def test_course_lib_exports_the_seed_api():
    assert {s.value for s in course_lib.TaskStatus} == {
        "pending", "waiting", "running", "completed", "failed", "timeout", "cancelled"}
    t = Task(id="x", func=print)
    assert (t.args, t.kwargs, t.priority, t.dependencies, t.timeout, t.max_retries,
            t.retry_delay) == ((), {}, 1, set(), 30.0, 3, 1.0)
    assert (t.status, t.result, t.error, t.retries, t.started_at, t.completed_at) == (
        TaskStatus.PENDING, None, None, 0, None, None)
    assert Task(id="a", func=print, priority=0) < Task(id="b", func=print, priority=1)
