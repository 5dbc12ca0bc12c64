"""SmartScheduler: one test (or a few) per rule of the module docstring / issue 2.

Every run is on the virtual clock (`run_virtual`), so orderings and times are
exact and no test waits for real time, except where a rule is about threads.
"""

import asyncio
import gc
import io
import threading
import warnings
from datetime import datetime, timedelta

import pytest

from course_lib import (
    Attempt,
    DependencyFailedError,
    SmartScheduler,
    Task,
    TaskCancelledError,
    TaskEvent,
    TaskSignatureError,
    TaskStatus,
    VirtualClockLoop,
    run_virtual,
)

PENDING, WAITING, RUNNING = TaskStatus.PENDING, TaskStatus.WAITING, TaskStatus.RUNNING
COMPLETED, FAILED = TaskStatus.COMPLETED, TaskStatus.FAILED
TIMEOUT, CANCELLED = TaskStatus.TIMEOUT, TaskStatus.CANCELLED
TERMINAL = {COMPLETED, FAILED, TIMEOUT, CANCELLED}


# ------------------------------------------------------------------ helpers

async def work(seconds=0.0, value=None, *dep_results):
    """Sleep *seconds* of (virtual) time and return *value*."""
    await asyncio.sleep(seconds)
    return value


def job(task_id, seconds=0.0, **fields):
    """A task that sleeps *seconds* and returns its own id."""
    return Task(id=task_id, func=work, args=(seconds, task_id), **fields)


class Flaky:
    """An async callable that sleeps, then fails its first *failures* calls."""

    def __init__(self, failures, seconds=0.0, exc=RuntimeError, value="ok"):
        self.failures, self.seconds, self.exc, self.value = failures, seconds, exc, value
        self.calls = []

    async def __call__(self, *_, **__):
        n = len(self.calls) + 1
        self.calls.append(asyncio.get_running_loop().time())
        await asyncio.sleep(self.seconds)
        if n <= self.failures:
            raise self.exc(f"failure {n}")
        return self.value


def simulate(tasks, max_workers=3, during=None, **options):
    """Add *tasks*, run (alongside ``during(scheduler)`` if given) on the virtual clock."""

    async def main():
        scheduler = SmartScheduler(max_workers, **options)
        for task in tasks:
            await scheduler.add_task(task)
        if during is None:
            await scheduler.run()
        else:
            await asyncio.gather(scheduler.run(), during(scheduler))
        return scheduler

    return run_virtual(main())


def starts(scheduler):
    """[(task_id, time)] of every attempt start, in the order they happened."""
    return [(e.task_id, e.time) for e in scheduler.event_log if e.new is RUNNING]


def start_order(scheduler):
    return [tid for tid, _ in starts(scheduler)]


def first_start(scheduler, task_id):
    return next(t for tid, t in starts(scheduler) if tid == task_id)


def end_time(scheduler, task_id):
    return next(e.time for e in scheduler.event_log
                if e.task_id == task_id and e.new in TERMINAL)


def max_concurrency(events):
    running = peak = 0
    for e in events:
        if e.new is RUNNING:
            running += 1
        elif e.old is RUNNING:
            running -= 1
        peak = max(peak, running)
    return peak


# ================================================================= Priority

def test_lower_priority_number_runs_first_and_ties_run_in_add_order():
    tasks = [job("p3-first", 1.0, priority=3), job("p1-first", 1.0, priority=1),
             job("p2", 1.0, priority=2), job("p1-second", 1.0, priority=1),
             job("p0", 1.0, priority=0), job("p3-second", 1.0, priority=3)]
    s = simulate(tasks, max_workers=1)
    assert starts(s) == [("p0", 0.0), ("p1-first", 1.0), ("p1-second", 2.0), ("p2", 3.0),
                         ("p3-first", 4.0), ("p3-second", 5.0)]


def test_many_equal_priorities_keep_fifo_order():
    ids = [f"t{i:03d}" for i in range(50)]
    s = simulate([job(tid, 0.5) for tid in reversed(ids)], max_workers=2)
    assert start_order(s) == list(reversed(ids))


def test_when_a_slot_frees_the_best_ready_task_starts_next():
    # "low" has been ready since t=0; "urgent" becomes ready only at t=1, when
    # "first" completes and frees the only slot: urgent goes first anyway.
    tasks = [job("first", 1.0, priority=0),
             job("low", 1.0, priority=5),
             job("urgent", 1.0, priority=1, dependencies={"first"})]
    s = simulate(tasks, max_workers=1)
    assert starts(s) == [("first", 0.0), ("urgent", 1.0), ("low", 2.0)]


def test_a_better_task_added_during_run_takes_the_next_free_slot():
    async def add_later(s):
        await asyncio.sleep(0.5)
        await s.add_task(job("late-vip", 1.0, priority=0))

    tasks = [job("running", 1.0, priority=5), job("queued", 1.0, priority=5)]
    s = simulate(tasks, max_workers=1, during=add_later)
    assert starts(s) == [("running", 0.0), ("late-vip", 1.0), ("queued", 2.0)]


def _starvation_run(**options):
    """One slot; "old" (priority 10) is ready at t=0, and two urgent tasks
    (priority 0, 1 s each) arrive every second for 30 s, so the queue of urgent
    work never empties."""

    async def feeder(s):
        for k in range(1, 61):
            await asyncio.sleep(0.5)
            await s.add_task(job(f"urgent-{k:02d}", 1.0, priority=0))

    tasks = [job("old", 1.0, priority=10), job("urgent-00", 1.0, priority=0)]
    return simulate(tasks, max_workers=1, during=feeder, **options)


def test_aging_is_off_by_default_so_a_low_priority_task_waits_for_all_urgent_work():
    assert SmartScheduler().aging == 0
    s = _starvation_run()
    order = start_order(s)
    assert order[-1] == "old"
    assert first_start(s, "old") == 61.0


def test_aging_lets_a_long_waiting_task_overtake_newer_urgent_ones():
    s = _starvation_run(aging=1.0)  # one priority level per second of waiting
    old_start = first_start(s, "old")
    assert old_start < 25.0
    # It overtook urgent tasks that arrived long after it did.
    overtaken = [tid for tid, t in starts(s) if t > old_start]
    assert len(overtaken) > 30
    # Aging does not reorder tasks of equal priority that arrive in order.
    urgent = [tid for tid in start_order(s) if tid != "old"]
    assert urgent == sorted(urgent)


def test_why_waiting_names_the_dependency_the_full_pool_and_the_tasks_ahead():
    seen = {}

    async def probe(s):
        await asyncio.sleep(1.0)
        for tid in ("child", "target", "blocker"):
            seen[tid, "en"] = s.why_waiting(tid, lang="en")
            seen[tid, "zh"] = s.why_waiting(tid, lang="zh")

    tasks = [job("blocker", 2.0, priority=0),
             job("ahead-1", 1.0, priority=1),
             job("ahead-2", 1.0, priority=1),
             job("target", 1.0, priority=5),
             job("child", 1.0, priority=0, dependencies={"blocker"})]
    s = simulate(tasks, max_workers=1, during=probe)

    child = seen["child", "en"]
    assert "child" in child and "blocker" in child and "dependenc" in child
    target = seen["target", "en"]
    assert "target" in target
    assert "busy" in target and "1 worker slot" in target and "blocker" in target
    assert "ahead-1" in target and "ahead-2" in target and "2 ready task" in target
    assert "running" in seen["blocker", "en"]

    assert "blocker" in seen["child", "zh"] and "依赖" in seen["child", "zh"]
    zh_target = seen["target", "zh"]
    assert "工作槽" in zh_target and "忙" in zh_target
    assert "ahead-1" in zh_target and "ahead-2" in zh_target and "优先级" in zh_target
    assert "正在运行" in seen["blocker", "zh"]

    assert "completed" in s.why_waiting("target", lang="en")
    assert "已经结束了（完成）" in s.why_waiting("target")  # Chinese by default


def test_why_waiting_full_pool_alone_and_next_in_line():
    seen = {}

    async def probe(s):
        await asyncio.sleep(0.5)
        seen["only"] = s.why_waiting("only-waiting", lang="en")

    s = simulate([job("a", 1.0), job("b", 1.0), job("only-waiting", 1.0)],
                 max_workers=2, during=probe)
    text = seen["only"]
    assert "all 2 worker slots are busy" in text and "a" in text and "b" in text
    assert "ahead" not in text
    assert first_start(s, "only-waiting") == 1.0


def test_why_waiting_before_run_during_backoff_and_bad_input():
    async def main():
        s = SmartScheduler(max_workers=1)
        await s.add_task(job("x", 1.0))
        before = s.why_waiting("x", lang="en")
        with pytest.raises(KeyError, match="nope"):
            s.why_waiting("nope")
        with pytest.raises(ValueError):
            s.why_waiting("x", lang="xx")
        flaky = Flaky(failures=1)
        await s.add_task(Task(id="flaky", func=flaky, retry_delay=10.0, priority=0))
        seen = []

        async def probe():
            await asyncio.sleep(5)
            seen.append(s.why_waiting("flaky", lang="en"))

        await asyncio.gather(s.run(), probe())
        return before, seen[0]

    before, backoff = run_virtual(main())
    assert "run()" in before
    assert "backing off" in backoff and "t=10" in backoff


# ============================================================= Event-driven

def test_a_chain_of_200_tasks_ends_exactly_at_the_sum_of_its_sleeps():
    durations = [((i * 37) % 11 + 1) / 1024 for i in range(200)]  # exact binary fractions
    tasks = [job(f"c{i:03d}", d, dependencies=[f"c{i - 1:03d}"] if i else [])
             for i, d in enumerate(durations)]
    s = simulate(tasks, max_workers=4)
    expected_end = sum(durations)
    assert end_time(s, "c199") == expected_end
    assert s.get_stats()["elapsed"] == expected_end
    # Each link starts the very moment its predecessor completes: no polling gap.
    t = 0.0
    for i, d in enumerate(durations):
        assert first_start(s, f"c{i:03d}") == t
        t += d


def test_a_chain_of_instant_tasks_takes_zero_virtual_time():
    tasks = [job(f"c{i}", 0.0, dependencies={f"c{i - 1}"} if i else set()) for i in range(200)]
    s = simulate(tasks)
    assert all(t.status is COMPLETED for t in s.tasks.values())
    assert end_time(s, "c199") == 0.0


class _CountingLoop(VirtualClockLoop):
    iterations = 0

    def _run_once(self):
        type(self).iterations += 1
        super()._run_once()


def test_the_scheduler_does_not_wake_up_while_nothing_happens():
    """One task sleeping 1000 s: a 0.1 s poller would turn the loop 10,000 times."""

    async def main():
        s = SmartScheduler(max_workers=2)
        await s.add_task(job("long", 1000.0, timeout=None))
        await s.add_task(Task(id="flaky", func=Flaky(failures=1), retry_delay=500.0))
        await s.run()
        return asyncio.get_running_loop().time()

    _CountingLoop.iterations = 0
    with asyncio.Runner(loop_factory=_CountingLoop) as runner:
        assert runner.run(main()) == 1000.0
    assert _CountingLoop.iterations < 60


# ============================================================= Dependencies

async def collect(*args, **kwargs):
    return args, kwargs


def _dep_tasks():
    # Added in an unsorted order, and finishing in yet another order.
    return [job("c", 0.5), job("a", 3.0), job("b", 1.0)]


def test_set_dependencies_pass_results_in_sorted_id_order_after_args():
    tasks = _dep_tasks() + [Task(id="x", func=collect, args=(1, 2), kwargs={"k": "v"},
                                 dependencies={"c", "b", "a"})]
    s = simulate(tasks)
    assert s.tasks["x"].result == ((1, 2, "a", "b", "c"), {"k": "v"})
    assert first_start(s, "x") == 3.0


def test_list_and_tuple_dependencies_pass_results_in_the_given_order():
    tasks = _dep_tasks() + [
        Task(id="as-list", func=collect, args=("first",), dependencies=["c", "a", "b"]),
        Task(id="as-tuple", func=collect, dependencies=("b", "c")),
    ]
    s = simulate(tasks)
    assert s.tasks["as-list"].result == (("first", "c", "a", "b"), {})
    assert s.tasks["as-tuple"].result == (("b", "c"), {})
    assert first_start(s, "as-tuple") == 1.0


def test_a_callable_that_cannot_take_the_results_is_just_ordered_after_them():
    calls = []

    async def no_params():
        calls.append(asyncio.get_running_loop().time())
        return "ran"

    def sync_one_param(x):
        return ("sync", x)

    tasks = _dep_tasks() + [
        Task(id="plain", func=no_params, dependencies={"a", "b"}),
        Task(id="sync-plain", func=sync_one_param, args=(7,), dependencies=["c"]),
    ]
    s = simulate(tasks)
    assert s.tasks["plain"].result == "ran" and calls == [3.0]
    assert s.tasks["sync-plain"].result == ("sync", 7)
    assert first_start(s, "plain") == 3.0
    assert first_start(s, "sync-plain") == 0.5


def test_a_dependencies_keyword_parameter_gets_a_dict_of_results():
    async def with_keyword(x, dependencies):
        return x, dependencies

    async def keyword_only(*, dependencies=None, flag=False):
        return dependencies, flag

    tasks = _dep_tasks() + [
        Task(id="kw", func=with_keyword, args=(1,), dependencies={"a", "c"}),
        Task(id="kwonly", func=keyword_only, kwargs={"flag": True}, dependencies=["b"]),
    ]
    s = simulate(tasks)
    assert s.tasks["kw"].result == (1, {"a": "a", "c": "c"})
    assert s.tasks["kwonly"].result == ({"b": "b"}, True)


def test_a_sync_callable_gets_dependency_results_too():
    def add(x, y):
        return x + y

    async def two():
        return 2

    tasks = [Task(id="two", func=two), Task(id="sum", func=add, args=(40,), dependencies=["two"])]
    assert simulate(tasks).tasks["sum"].result == 42


def test_a_bad_signature_is_rejected_by_add_task_with_a_clear_error():
    async def needs_three(a, b, c):
        return a

    async def takes_one(a):
        return a

    async def main():
        s = SmartScheduler()
        await s.add_task(job("up"))
        with pytest.raises(TaskSignatureError) as info:
            await s.add_task(Task(id="bad", func=needs_three, dependencies={"up"}))
        with pytest.raises(TaskSignatureError, match="no-deps"):
            await s.add_task(Task(id="no-deps", func=takes_one))  # missing argument
        with pytest.raises(TaskSignatureError, match="too-many"):
            await s.add_task(Task(id="too-many", func=takes_one, args=(1, 2)))
        with pytest.raises(TaskSignatureError, match="callable"):
            await s.add_task(Task(id="not-callable", func=42))
        with pytest.raises(TaskSignatureError):
            await s.add_task(Task(id="bad-kwarg", func=takes_one, kwargs={"zzz": 1}))
        return info.value, s

    error, s = run_virtual(main())
    assert isinstance(error, TypeError) and isinstance(error, ValueError)
    assert "bad" in str(error) and "needs_three" in str(error)
    assert set(s.tasks) == {"up"}  # nothing half-added


def test_malformed_dependencies_and_numbers_are_rejected_at_add_task():
    async def main():
        s = SmartScheduler()
        with pytest.raises(TypeError, match="dependencies"):
            await s.add_task(Task(id="str-deps", func=collect, dependencies="abc"))
        with pytest.raises(TypeError):
            await s.add_task(Task(id="int-dep", func=collect, dependencies={1}))
        with pytest.raises(ValueError, match="twice"):
            await s.add_task(Task(id="twice", func=collect, dependencies=["a", "a"]))
        with pytest.raises(ValueError, match="timeout"):
            await s.add_task(Task(id="neg", func=collect, timeout=-1.0))
        with pytest.raises(ValueError, match="max_retries"):
            await s.add_task(Task(id="neg-retries", func=collect, max_retries=-1))
        with pytest.raises(ValueError, match="retry_delay"):
            await s.add_task(Task(id="neg-delay", func=collect, retry_delay=-1.0))
        with pytest.raises(TypeError):
            await s.add_task("not a task")
        with pytest.raises(ValueError):
            await s.add_task(Task(id="", func=collect))
        return s

    assert run_virtual(main()).tasks == {}
    with pytest.raises(ValueError):
        SmartScheduler(max_workers=0)
    with pytest.raises(ValueError):
        SmartScheduler(jitter=2.0)


def test_a_task_starts_only_after_all_dependencies_completed():
    tasks = [job("slow", 5.0), job("fast", 1.0),
             job("both", 1.0, dependencies={"slow", "fast"}),
             job("after-both", 1.0, dependencies=["both"])]
    s = simulate(tasks)
    assert first_start(s, "both") == 5.0
    assert first_start(s, "after-both") == 6.0
    transitions = [(e.old, e.new, e.time) for e in s.event_log if e.task_id == "both"]
    assert transitions == [(None, PENDING, 0.0), (PENDING, WAITING, 0.0),
                           (WAITING, PENDING, 5.0), (PENDING, RUNNING, 5.0),
                           (RUNNING, COMPLETED, 6.0)]


# ========================================================== Failed upstream

async def boom(*_):
    await asyncio.sleep(1.0)
    raise RuntimeError("upstream broke")


@pytest.mark.parametrize("how", ["failed", "timeout", "cancelled"])
def test_a_failed_upstream_cancels_dependents_at_once_and_transitively(how):
    if how == "failed":
        root = Task(id="root", func=boom, max_retries=0)
    elif how == "timeout":
        root = job("root", 10.0, timeout=1.0, max_retries=0)
    else:
        root = job("root", 10.0)

    async def cancel_root(s):
        if how == "cancelled":
            await asyncio.sleep(1.0)
            assert s.cancel("root") is True

    tasks = [root,
             job("child", 1.0, dependencies={"root"}),
             job("grandchild", 1.0, dependencies=["child", "other"]),
             job("other", 3.0),
             job("great", 1.0, dependencies={"grandchild"})]
    s = simulate(tasks, during=cancel_root)  # nothing hangs (the test's timeout bounds it)

    root_status = {"failed": FAILED, "timeout": TIMEOUT, "cancelled": CANCELLED}[how]
    assert s.tasks["root"].status is root_status
    assert s.tasks["other"].status is COMPLETED
    for tid, upstream in [("child", "root"), ("grandchild", "child"), ("great", "grandchild")]:
        task = s.tasks[tid]
        assert task.status is CANCELLED
        assert task.attempts == [] and task.started_at is None
        assert isinstance(task.error, DependencyFailedError)
        assert isinstance(task.error, TaskCancelledError)
        assert task.error.upstream == upstream and upstream in str(task.error)
        assert task.error.root == "root" and "root" in str(task.error)
        assert end_time(s, tid) == 1.0  # at once, when root ended
    assert root_status.value in str(s.tasks["child"].error)


def test_a_task_added_after_its_upstream_failed_is_cancelled_at_once():
    async def add_late(s):
        await asyncio.sleep(2.0)
        await s.add_task(job("late", 1.0, dependencies={"root"}))

    s = simulate([Task(id="root", func=boom, max_retries=0), job("keepalive", 5.0)],
                 during=add_late)
    late = s.tasks["late"]
    assert late.status is CANCELLED and "root" in str(late.error)
    assert end_time(s, "late") == 2.0


def test_a_dependency_that_completes_after_retries_does_not_cancel_anything():
    flaky = Flaky(failures=2, seconds=0.5)
    tasks = [Task(id="flaky", func=flaky, retry_delay=1.0), job("child", 1.0, dependencies={"flaky"})]
    s = simulate(tasks)
    assert s.tasks["child"].status is COMPLETED
    # flaky: 0-0.5 fail, backoff 1, 1.5-2.0 fail, backoff 2, 4.0-4.5 ok.
    assert first_start(s, "child") == 4.5


# =============================================================== Bad graphs

def _run_expecting_value_error(tasks, match):
    ran = []

    async def spy(*_, **__):
        ran.append(True)

    async def main():
        s = SmartScheduler()
        for task in tasks:
            task.func = spy
            await s.add_task(task)
        with pytest.raises(ValueError, match=match) as info:
            await s.run()
        return s, info.value

    s, error = run_virtual(main())
    assert ran == []  # nothing ran
    assert [e for e in s.event_log if e.new is not PENDING] == []
    assert all(t.status is PENDING for t in s.tasks.values())
    return str(error)


def test_a_cycle_makes_run_raise_value_error_naming_it_before_anything_runs():
    tasks = [Task(id="free", func=None), Task(id="alpha", func=None, dependencies={"gamma"}),
             Task(id="beta", func=None, dependencies={"alpha"}),
             Task(id="gamma", func=None, dependencies={"beta"}),
             Task(id="tail", func=None, dependencies={"gamma"})]
    message = _run_expecting_value_error(tasks, "cycle")
    for tid in ("alpha", "beta", "gamma"):
        assert tid in message
    assert "free" not in message and "tail" not in message


def test_a_self_dependency_is_a_cycle():
    message = _run_expecting_value_error([Task(id="me", func=None, dependencies=["me"])], "cycle")
    assert "me" in message


def test_an_unknown_dependency_makes_run_raise_value_error_naming_the_id():
    tasks = [Task(id="a", func=None), Task(id="b", func=None, dependencies={"a", "ghost"})]
    message = _run_expecting_value_error(tasks, "ghost")
    assert "'b'" in message


def test_a_duplicate_id_raises_value_error_from_add_task():
    async def main():
        s = SmartScheduler()
        await s.add_task(job("same"))
        with pytest.raises(ValueError, match="same"):
            await s.add_task(job("same"))
        with pytest.raises(ValueError, match="same"):
            await s.add_task(s.tasks["same"])  # the very same object
        return s

    assert len(run_virtual(main()).tasks) == 1


def test_tasks_added_during_run_are_run_and_bad_ones_are_refused_at_once():
    refused = []

    async def during(s):
        await asyncio.sleep(1.0)
        await s.add_task(job("new-child", 1.0, dependencies={"long"}))
        await s.add_task(job("new-free", 1.0))
        for bad in (job("ghost-child", dependencies={"ghost"}),
                    job("self-loop", dependencies={"self-loop"}),
                    job("long")):
            with pytest.raises(ValueError) as info:
                await s.add_task(bad)
            refused.append(str(info.value))

    s = simulate([job("long", 3.0)], during=during)
    assert first_start(s, "new-free") == 1.0
    assert first_start(s, "new-child") == 3.0
    assert all(s.tasks[t].status is COMPLETED for t in ("long", "new-child", "new-free"))
    assert set(s.tasks) == {"long", "new-child", "new-free"}
    assert "ghost" in refused[0] and "self-loop" in refused[1] and "long" in refused[2]


def test_a_task_added_by_a_running_task_and_awaited_with_process_task():
    async def main():
        s = SmartScheduler(max_workers=2)

        async def parent():
            child = await s.process_task(job("child", 2.0))
            return ("parent saw", child.status.value, child.result)

        await s.add_task(Task(id="parent", func=parent))
        await s.run()
        return s

    s = run_virtual(main())
    assert s.tasks["parent"].result == ("parent saw", "completed", "child")
    assert end_time(s, "parent") == 2.0


# ============================================================== Concurrency

def test_never_more_than_max_workers_callables_at_once():
    live = peak = 0

    async def counted(seconds):
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        try:
            await asyncio.sleep(seconds)
        finally:
            live -= 1

    tasks = [Task(id=f"t{i}", func=counted, args=((i % 5 + 1) / 4,)) for i in range(40)]
    s = simulate(tasks, max_workers=3)
    assert peak == 3
    assert max_concurrency(s.event_log) == 3
    slots = {e.slot for e in s.event_log if e.new is RUNNING}
    assert slots == {0, 1, 2}
    assert all(a.slot in slots for t in s.tasks.values() for a in t.attempts)


def test_a_retry_backoff_does_not_hold_a_worker_slot():
    tasks = [Task(id="flaky", func=Flaky(failures=1, seconds=1.0), retry_delay=10.0, priority=0),
             job("other", 2.0, priority=1)]
    s = simulate(tasks, max_workers=1)
    # flaky fails at t=1 and backs off until t=11; other uses the slot meanwhile.
    assert starts(s) == [("flaky", 0.0), ("other", 1.0), ("flaky", 11.0)]
    assert s.tasks["flaky"].status is COMPLETED


def test_a_sync_function_runs_in_a_thread_not_on_the_loop():
    def blocking(x):
        return x * 2, threading.get_ident()

    async def main():
        s = SmartScheduler(max_workers=2)
        await s.add_task(Task(id="sync", func=blocking, args=(21,)))
        await s.run()
        return s.tasks["sync"], threading.get_ident()

    task, loop_thread = run_virtual(main())
    value, worker_thread = task.result
    assert value == 42 and task.status is COMPLETED
    assert worker_thread != loop_thread


def test_a_sync_attempt_that_times_out_is_marked_abandoned_and_frees_its_slot():
    release, finished = threading.Event(), threading.Event()
    seen_by_next = []

    def stuck():
        try:
            release.wait(5)
            return "late"
        finally:
            finished.set()

    async def next_task():
        seen_by_next.append((release.is_set(), finished.is_set()))
        return "next"

    async def main():
        s = SmartScheduler(max_workers=1)
        await s.add_task(Task(id="stuck", func=stuck, timeout=0.05, max_retries=0, priority=0))
        await s.add_task(Task(id="next", func=next_task, priority=1))
        try:
            await s.run()
            snapshot = s.tasks["stuck"].status, list(s.tasks["stuck"].attempts)
        finally:
            release.set()
        await asyncio.to_thread(finished.wait, 5)  # the abandoned thread returns later
        await asyncio.sleep(0)
        return s, snapshot

    s, (status_at_end, attempts) = run_virtual(main())
    stuck_task = s.tasks["stuck"]
    assert status_at_end is TIMEOUT and stuck_task.status is TIMEOUT
    assert stuck_task.result is None  # the late return changes nothing
    (attempt,) = attempts
    assert attempt.abandoned is True and attempt.outcome is TIMEOUT
    assert isinstance(stuck_task.error, TimeoutError) and "abandoned" in str(stuck_task.error)
    # The slot was freed while the thread was still busy.
    assert seen_by_next == [(False, False)]
    assert s.tasks["next"].status is COMPLETED


def test_the_slot_freed_by_an_abandoned_thread_can_run_the_next_sync_task():
    """The docstring: an abandoned attempt's "slot is freed while the thread runs
    on in the background".  A freed slot must be usable by the next sync task,
    even while the abandoned thread still occupies its worker thread."""
    release = threading.Event()
    ran = []

    def stuck():
        release.wait(2)

    def quick():
        ran.append(True)
        return "quick"

    async def main():
        s = SmartScheduler(max_workers=1)
        await s.add_task(Task(id="stuck", func=stuck, timeout=0.05, max_retries=0, priority=0))
        await s.add_task(Task(id="quick", func=quick, timeout=0.5, max_retries=0, priority=1))
        try:
            await s.run()
        finally:
            release.set()
        return s

    s = run_virtual(main())
    assert s.tasks["stuck"].status is TIMEOUT and s.tasks["stuck"].attempts[0].abandoned
    assert ran == [True]
    assert s.tasks["quick"].status is COMPLETED, s.tasks["quick"].error


def test_a_sync_attempt_that_finishes_in_time_is_not_abandoned():
    s = simulate([Task(id="quick", func=lambda: "fine", timeout=5.0)])
    (attempt,) = s.tasks["quick"].attempts
    assert attempt.abandoned is False and s.tasks["quick"].result == "fine"


# ================================================================== Timeout

def test_a_timeout_applies_to_each_attempt_and_cancels_it():
    cancelled_at = []

    async def slow():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled_at.append(asyncio.get_running_loop().time())
            raise

    s = simulate([Task(id="slow", func=slow, timeout=1.0, max_retries=2, retry_delay=0.5)])
    task = s.tasks["slow"]
    assert task.status is TIMEOUT
    assert [(a.start, a.end, a.outcome) for a in task.attempts] == [
        (0.0, 1.0, TIMEOUT), (1.5, 2.5, TIMEOUT), (3.5, 4.5, TIMEOUT)]
    assert cancelled_at == [1.0, 2.5, 4.5]
    assert isinstance(task.error, TimeoutError) and task.retries == 2
    assert s.get_stats()["failed"] == 1


def test_retry_on_timeout_false_ends_timeout_after_one_attempt():
    s = simulate([job("slow", 10.0, timeout=1.0, max_retries=3, retry_on_timeout=False)])
    task = s.tasks["slow"]
    assert task.status is TIMEOUT and len(task.attempts) == 1 and task.retries == 0
    assert end_time(s, "slow") == 1.0


def test_a_timed_out_attempt_is_retried_and_can_then_succeed():
    durations = iter([5.0, 0.5])

    async def faster_each_time():
        await asyncio.sleep(next(durations))
        return "made it"

    s = simulate([Task(id="t", func=faster_each_time, timeout=1.0, retry_delay=1.0)])
    task = s.tasks["t"]
    assert task.status is COMPLETED and task.result == "made it"
    assert [a.outcome for a in task.attempts] == [TIMEOUT, COMPLETED]
    assert task.attempts[1].start == 2.0 and task.attempts[1].end == 2.5


def test_the_task_ends_timeout_only_if_its_last_attempt_timed_out():
    outcomes = iter(["sleep", "raise"])

    async def timeout_then_fail():
        if next(outcomes) == "sleep":
            await asyncio.sleep(10)
        raise ValueError("second attempt failed")

    s = simulate([Task(id="t", func=timeout_then_fail, timeout=1.0, max_retries=1,
                       retry_delay=0.0)])
    task = s.tasks["t"]
    assert [a.outcome for a in task.attempts] == [TIMEOUT, FAILED]
    assert task.status is FAILED and isinstance(task.error, ValueError)


def test_timeout_none_means_no_limit():
    s = simulate([job("forever-ish", 10**6, timeout=None)])
    assert s.tasks["forever-ish"].status is COMPLETED


def test_an_attempt_that_swallows_its_cancellation_still_ends_timeout():
    async def stubborn():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "swallowed"

    s = simulate([Task(id="t", func=stubborn, timeout=1.0, max_retries=0)])
    assert s.tasks["t"].status is TIMEOUT and s.tasks["t"].result is None


# ==================================================================== Retry

def test_at_most_one_plus_max_retries_attempts_with_exponential_backoff():
    flaky = Flaky(failures=99)
    s = simulate([Task(id="f", func=flaky, max_retries=4, retry_delay=0.5)])
    task = s.tasks["f"]
    assert task.status is FAILED
    assert len(task.attempts) == 5 and task.retries == 4
    # Backoff before retry k is 0.5 * 2**(k-1): 0.5, 1, 2, 4.
    assert flaky.calls == [0.0, 0.5, 1.5, 3.5, 7.5]
    assert [a.backoff for a in task.attempts] == [0.5, 1.0, 2.0, 4.0, None]
    assert str(task.error) == "failure 5"  # the last exception
    assert s.get_stats()["retries"] == 4


def test_max_retries_zero_means_a_single_attempt():
    flaky = Flaky(failures=1)
    s = simulate([Task(id="f", func=flaky, max_retries=0)])
    assert len(flaky.calls) == 1 and s.tasks["f"].status is FAILED and s.tasks["f"].retries == 0


def test_backoff_is_capped():
    flaky = Flaky(failures=99)
    s = simulate([Task(id="f", func=flaky, max_retries=5, retry_delay=1.0)], backoff_cap=2.5)
    assert [a.backoff for a in s.tasks["f"].attempts][:-1] == [1.0, 2.0, 2.5, 2.5, 2.5]
    assert flaky.calls == [0.0, 1.0, 3.0, 5.5, 8.0, 10.5]


def _jittered_backoffs(seed, jitter=0.5, cap=1000.0):
    flaky = Flaky(failures=99)
    s = simulate([Task(id="f", func=flaky, max_retries=6, retry_delay=1.0)],
                 jitter=jitter, seed=seed, backoff_cap=cap)
    attempts = s.tasks["f"].attempts
    for before, after in zip(attempts, attempts[1:]):
        assert after.start == before.end + before.backoff  # the gap is exactly the backoff
    return [a.backoff for a in attempts[:-1]]


def test_jitter_is_reproducible_with_a_seed_and_differs_with_another_seed():
    first, again, other = _jittered_backoffs(7), _jittered_backoffs(7), _jittered_backoffs(8)
    assert first == again
    assert first != other
    for k, delay in enumerate(first, start=1):
        base = 2.0 ** (k - 1)
        assert 0.5 * base <= delay <= 1.5 * base
    assert first != [2.0 ** (k - 1) for k in range(1, 7)]  # jitter did something


def test_jitter_stays_under_the_cap():
    assert all(d <= 3.0 for d in _jittered_backoffs(1, jitter=1.0, cap=3.0))


def test_retry_if_chooses_which_exceptions_are_retried():
    seen = []

    def only_connection_errors(exc):
        seen.append(type(exc).__name__)
        return isinstance(exc, ConnectionError)

    retried = Flaky(failures=2, exc=ConnectionError)
    not_retried = Flaky(failures=2, exc=KeyError)
    s = simulate([Task(id="net", func=retried, retry_if=only_connection_errors, retry_delay=0.0),
                  Task(id="bug", func=not_retried, retry_if=only_connection_errors)])
    assert s.tasks["net"].status is COMPLETED and s.tasks["net"].retries == 2
    assert s.tasks["bug"].status is FAILED and s.tasks["bug"].retries == 0
    assert len(not_retried.calls) == 1
    assert isinstance(s.tasks["bug"].error, KeyError)
    assert sorted(seen) == ["ConnectionError", "ConnectionError", "KeyError"]


def test_a_retry_if_that_raises_stops_retrying_and_says_why():
    def broken(exc):
        raise ZeroDivisionError("predicate bug")

    flaky = Flaky(failures=5)
    s = simulate([Task(id="f", func=flaky, retry_if=broken)])
    task = s.tasks["f"]
    assert task.status is FAILED and len(flaky.calls) == 1
    assert any("predicate bug" in note for note in getattr(task.error, "__notes__", []))


def test_every_attempt_is_recorded_with_start_end_outcome_and_slot():
    flaky = Flaky(failures=2, seconds=0.25)
    tasks = [job("busy", 0.6, priority=0), Task(id="f", func=flaky, retry_delay=0.25, priority=1)]
    s = simulate(tasks, max_workers=2)
    task = s.tasks["f"]
    assert all(isinstance(a, Attempt) for a in task.attempts)
    # busy holds slot 0 until 0.6, so attempt 2 (at 0.5) gets slot 1 again;
    # attempt 3 (at 1.25) gets the lowest free slot, 0.
    assert [(a.number, a.start, a.end, a.outcome, a.slot) for a in task.attempts] == [
        (1, 0.0, 0.25, FAILED, 1),
        (2, 0.5, 0.75, FAILED, 1),
        (3, 1.25, 1.5, COMPLETED, 0),
    ]
    assert [a.duration for a in task.attempts] == [0.25, 0.25, 0.25]
    assert [str(a.error) for a in task.attempts[:2]] == ["failure 1", "failure 2"]
    assert task.attempts[2].error is None
    assert task.retries == 2 and task.result == "ok"
    # Each attempt ran in a real slot, and its RUNNING event names the same slot.
    running = [(e.attempt, e.slot, e.time) for e in s.event_log
               if e.task_id == "f" and e.new is RUNNING]
    assert running == [(a.number, a.slot, a.start) for a in task.attempts]
    assert all(0 <= a.slot < 2 for a in task.attempts)


# ============================================================= Cancellation

def test_cancel_a_pending_task_and_its_dependents():
    called = []

    async def must_not_run(*_):
        called.append(True)

    async def cancel_soon(s):
        await asyncio.sleep(0.5)
        assert s.cancel("queued") is True

    tasks = [job("busy", 1.0), Task(id="queued", func=must_not_run),
             Task(id="dependent", func=must_not_run, dependencies={"queued"})]
    s = simulate(tasks, max_workers=1, during=cancel_soon)
    assert called == []
    assert s.tasks["queued"].status is CANCELLED
    assert isinstance(s.tasks["queued"].error, TaskCancelledError)
    assert s.tasks["dependent"].status is CANCELLED
    assert "queued" in str(s.tasks["dependent"].error)
    assert end_time(s, "queued") == end_time(s, "dependent") == 0.5


def test_cancel_a_running_task_and_its_dependents():
    seen = []

    async def long_running():
        try:
            await asyncio.sleep(100)
        except asyncio.CancelledError:
            seen.append(asyncio.get_running_loop().time())
            raise

    async def cancel_soon(s):
        await asyncio.sleep(2.0)
        assert s.cancel("long") is True

    tasks = [Task(id="long", func=long_running, timeout=None), job("dep", 1.0, dependencies={"long"})]
    s = simulate(tasks, during=cancel_soon)
    assert seen == [2.0]
    assert s.tasks["long"].status is CANCELLED and s.tasks["dep"].status is CANCELLED
    assert s.tasks["long"].attempts[0].outcome is CANCELLED
    assert end_time(s, "long") == 2.0 and s.get_stats()["elapsed"] == 2.0


def test_cancel_a_task_during_its_backoff():
    flaky = Flaky(failures=1)

    async def cancel_soon(s):
        await asyncio.sleep(1.0)
        assert s.cancel("f") is True

    s = simulate([Task(id="f", func=flaky, retry_delay=50.0), job("dep", dependencies=["f"])],
                 during=cancel_soon)
    assert len(flaky.calls) == 1
    assert s.tasks["f"].status is CANCELLED and s.tasks["dep"].status is CANCELLED
    assert s.get_stats()["elapsed"] == 1.0  # run() did not wait for the backoff


def test_cancel_before_run_also_cancels_the_dependents_at_once():
    """The docstring: `cancel` cancels a pending task "and all of its dependents"."""
    called = []

    async def must_not_run(*_):
        called.append(True)

    async def main():
        s = SmartScheduler()
        await s.add_task(Task(id="up", func=must_not_run))
        await s.add_task(Task(id="down", func=must_not_run, dependencies={"up"}))
        await s.add_task(Task(id="further", func=must_not_run, dependencies=["down"]))
        assert s.cancel("up") is True
        right_after = {tid: t.status for tid, t in s.tasks.items()}
        stats = s.get_stats()
        await s.run()
        return s, right_after, stats

    s, right_after, stats = run_virtual(main())
    assert called == []
    assert all(t.status is CANCELLED for t in s.tasks.values())  # true at least after run()
    assert "up" in str(s.tasks["down"].error) and "down" in str(s.tasks["further"].error)
    assert right_after == {"up": CANCELLED, "down": CANCELLED, "further": CANCELLED}
    assert stats["queued"] == 0 and stats["status"]["cancelled"] == 3


def test_cancel_returns_false_for_finished_tasks_and_raises_key_error_for_unknown_ids():
    results = {}

    async def main():
        s = SmartScheduler()
        await s.add_task(job("done"))
        await s.add_task(job("to-cancel"))
        assert s.cancel("to-cancel") is True  # before run(): never runs
        await s.run()
        results["again"] = s.cancel("done")
        results["twice"] = s.cancel("to-cancel")
        with pytest.raises(KeyError, match="nobody"):
            s.cancel("nobody")
        return s

    s = run_virtual(main())
    assert results == {"again": False, "twice": False}
    assert s.tasks["done"].status is COMPLETED and s.tasks["to-cancel"].status is CANCELLED
    assert s.tasks["to-cancel"].attempts == []


def test_cancelling_run_cancels_every_running_attempt_cleanly():
    unwound = []

    async def long_running(name):
        try:
            await asyncio.sleep(100)
        finally:
            unwound.append((name, asyncio.get_running_loop().time()))

    async def main():
        loop = asyncio.get_running_loop()
        problems = []
        loop.set_exception_handler(lambda _loop, context: problems.append(context))
        s = SmartScheduler(max_workers=2)
        await s.add_task(Task(id="r1", func=long_running, args=("r1",)))
        await s.add_task(Task(id="r2", func=long_running, args=("r2",)))
        await s.add_task(Task(id="queued", func=long_running, args=("queued",)))
        await s.add_task(Task(id="waiting", func=long_running, args=("waiting",),
                              dependencies={"r1"}))
        runner = asyncio.create_task(s.run())
        await asyncio.sleep(1.0)
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        left = asyncio.all_tasks() - {asyncio.current_task()}
        gc.collect()
        await asyncio.sleep(0)
        return s, left, problems, loop.time()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s, left, problems, at = run_virtual(main())
        gc.collect()
    assert [str(w.message) for w in caught] == []
    assert problems == []  # e.g. "Task was destroyed but it is pending!"
    assert left == set()  # no asyncio task is left pending
    assert sorted(unwound) == [("r1", 1.0), ("r2", 1.0)]
    assert at == 1.0
    assert {tid: t.status for tid, t in s.tasks.items()} == dict.fromkeys(
        ["r1", "r2", "queued", "waiting"], CANCELLED)
    assert all(a.end == 1.0 and a.outcome is CANCELLED
               for tid in ("r1", "r2") for a in s.tasks[tid].attempts)
    assert s.get_stats()["running"] == 0


def test_a_timeout_around_run_cancels_it_cleanly_too():
    async def main():
        problems = []
        asyncio.get_running_loop().set_exception_handler(lambda _l, c: problems.append(c))
        s = SmartScheduler()
        for i in range(5):
            await s.add_task(job(f"t{i}", 10.0 * (i + 1)))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(s.run(), timeout=25.0)
        left = asyncio.all_tasks() - {asyncio.current_task()}
        return s, left, problems

    s, left, problems = run_virtual(main())
    assert left == set() and problems == []
    assert [s.tasks[f"t{i}"].status for i in range(5)] == [COMPLETED, COMPLETED] + [CANCELLED] * 3


def test_cancelling_run_while_a_sync_attempt_runs_marks_it_abandoned():
    release = threading.Event()

    def blocking():
        release.wait(5)

    async def main():
        s = SmartScheduler()
        await s.add_task(Task(id="sync", func=blocking))
        runner = asyncio.create_task(s.run())
        await asyncio.sleep(0.01)
        runner.cancel()
        try:
            with pytest.raises(asyncio.CancelledError):
                await runner
        finally:
            release.set()
        return s

    s = run_virtual(main())
    task = s.tasks["sync"]
    assert task.status is CANCELLED and task.attempts[0].abandoned is True


# =============================================================== Monitoring

def _replay_is_consistent(scheduler):
    state = {}
    for e in scheduler.event_log:
        assert isinstance(e, TaskEvent)
        assert e.old is state.get(e.task_id)  # each event continues from the last
        state[e.task_id] = e.new
    assert state == {tid: t.status for tid, t in scheduler.tasks.items()}
    times = [e.time for e in scheduler.event_log]
    assert times == sorted(times)


def test_every_state_change_is_an_event_with_time_attempt_and_slot():
    flaky = Flaky(failures=1, seconds=0.25)
    tasks = [job("fetch", 1.0, priority=0),
             Task(id="flaky", func=flaky, max_retries=1, retry_delay=0.5),
             job("parse", 0.5, dependencies=["fetch"])]
    s = simulate(tasks, max_workers=2)
    _replay_is_consistent(s)
    flaky_events = [(e.time, e.old, e.new, e.attempt, e.slot, e.retry_at, e.outcome)
                    for e in s.event_log if e.task_id == "flaky"]
    assert flaky_events == [
        (0.0, None, PENDING, 0, None, None, None),
        (0.0, PENDING, RUNNING, 1, 1, None, None),
        (0.25, RUNNING, PENDING, 1, 1, 0.75, FAILED),  # backoff gap until retry_at
        (0.75, PENDING, RUNNING, 2, 1, None, None),
        (1.0, RUNNING, COMPLETED, 2, 1, None, COMPLETED),
    ]
    add = next(e for e in s.event_log if e.task_id == "parse")
    assert add.old is None and add.dependencies == ("fetch",) and add.priority == 1
    parse = [(e.time, e.old, e.new) for e in s.event_log if e.task_id == "parse"]
    assert parse == [(0.0, None, PENDING), (0.0, PENDING, WAITING), (1.0, WAITING, PENDING),
                     (1.0, PENDING, RUNNING), (1.5, RUNNING, COMPLETED)]


def test_event_times_come_from_the_loop_clock():
    seen = {}

    async def note(name, seconds):
        seen[name] = asyncio.get_running_loop().time()
        await asyncio.sleep(seconds)

    async def main():
        s = SmartScheduler(max_workers=1)
        await s.add_task(Task(id="a", func=note, args=("a", 2.0)))
        await s.add_task(Task(id="b", func=note, args=("b", 3.0)))
        await s.run()
        return s

    s = run_virtual(main(), start=1000.0)
    assert first_start(s, "a") == seen["a"] == 1000.0
    assert first_start(s, "b") == seen["b"] == 1002.0
    assert end_time(s, "b") == 1005.0


def test_subscribe_gets_every_event_and_can_unsubscribe():
    got, got_until_unsubscribed = [], []

    async def main():
        s = SmartScheduler()
        s.subscribe(got.append)
        unsubscribe = s.subscribe(got_until_unsubscribed.append)

        def stop_after_first_completion(event):
            if event.new is COMPLETED:
                unsubscribe()

        s.subscribe(stop_after_first_completion)
        await s.add_task(job("a", 1.0))
        await s.add_task(job("b", 2.0, dependencies={"a"}))
        await s.run()
        return s

    s = run_virtual(main())
    assert got == s.event_log and len(got) == 8
    first_completed = next(i for i, e in enumerate(got) if e.new is COMPLETED)
    assert got_until_unsubscribed == got[:first_completed + 1]


def test_a_broken_listener_does_not_break_the_scheduler():
    def broken(event):
        raise RuntimeError("view bug")

    async def main():
        reported = []
        asyncio.get_running_loop().set_exception_handler(lambda _l, c: reported.append(c))
        s = SmartScheduler()
        s.subscribe(broken)
        await s.add_task(job("a", 1.0))
        await s.run()
        return s, reported

    s, reported = run_virtual(main())
    assert s.tasks["a"].status is COMPLETED
    assert reported and all("view bug" in str(c.get("exception")) for c in reported)


def test_async_for_over_events_ends_when_run_ends():
    async def main():
        s = SmartScheduler(max_workers=2)
        await s.add_task(job("a", 1.0))
        await s.add_task(Task(id="f", func=Flaky(failures=1), retry_delay=0.5))
        await s.add_task(job("b", 1.0, dependencies={"a"}))

        async def consume():
            return [e async for e in s.events()]

        async def add_during():
            await asyncio.sleep(0.5)
            await s.add_task(job("late", 0.25))

        streamed, _, _ = await asyncio.gather(consume(), s.run(), add_during())
        after = [e async for e in s.events()]  # idle: the backlog, then ends at once
        return s, streamed, after

    s, streamed, after = run_virtual(main())
    assert streamed == s.event_log == after
    assert any(e.task_id == "late" for e in streamed)
    assert streamed[-1].new in TERMINAL


def test_get_stats_during_run_from_a_listener_matches_the_event_log():
    checked = []

    async def main():
        s = SmartScheduler(max_workers=2)
        live = {}

        def check(event):
            live[event.task_id] = event.new
            stats = s.get_stats()
            values = list(live.values())
            assert stats["running"] == values.count(RUNNING)
            assert stats["queued"] == values.count(PENDING) + values.count(WAITING)
            assert stats["status"] == {st.value: values.count(st) for st in TaskStatus}
            assert sum(stats["status"].values()) == stats["total"] == len(live)
            checked.append((event.time, stats["running"], stats["queued"]))

        s.subscribe(check)
        for i in range(5):
            await s.add_task(job(f"t{i}", 1.0))
        await s.add_task(job("child", 1.0, dependencies={"t0"}))
        await s.run()
        return s

    run_virtual(main())
    assert len(checked) > 10
    assert max(running for _, running, _ in checked) == 2


def test_get_stats_from_a_concurrent_coroutine_mid_run():
    snapshots = {}

    async def probe(s):
        await asyncio.sleep(0.5)
        snapshots["mid"] = s.get_stats()
        snapshots["progress_mid"] = s.progress
        await asyncio.sleep(1.0)
        snapshots["later"] = s.get_stats()

    tasks = [job(f"t{i}", 1.0) for i in range(5)] + [job("child", 1.0, dependencies={"t0"})]
    s = simulate(tasks, max_workers=2, during=probe)
    mid = snapshots["mid"]
    assert mid["running"] == 2 and mid["queued"] == 4 and mid["completed"] == 0
    assert mid["status"]["waiting"] == 1 and mid["status"]["pending"] == 3
    assert mid["elapsed"] == 0.5
    assert snapshots["progress_mid"] == 0.0
    later = snapshots["later"]  # t=1.5: t0, t1 done; t2 + child running (child prio 1, added last)
    assert later["completed"] == 2 and later["running"] == 2 and later["elapsed"] == 1.5
    assert later["progress"] == pytest.approx(2 / 6)


def test_get_stats_keys_and_values_after_a_mixed_run():
    flaky = Flaky(failures=1)
    tasks = [job("ok1", 1.0), job("ok2", 2.0), job("ok3", 3.0),
             Task(id="retried", func=flaky, retry_delay=1.0),  # ok on attempt 2 at t=1
             Task(id="fails", func=Flaky(failures=9, seconds=4.0), max_retries=0),
             job("slow", 10.0, timeout=5.0, max_retries=0),
             job("cancelled", 1.0, dependencies={"fails"})]
    s = simulate(tasks, max_workers=10)
    stats = s.get_stats()
    for key in ("total", "completed", "failed", "status", "running", "queued", "retries",
                "success_rate", "elapsed", "throughput", "durations"):
        assert key in stats
    assert stats["total"] == 7
    assert stats["completed"] == 4
    assert stats["failed"] == 2  # FAILED + TIMEOUT
    assert stats["status"] == {"pending": 0, "waiting": 0, "running": 0, "completed": 4,
                               "failed": 1, "timeout": 1, "cancelled": 1}
    assert set(stats["status"]) == {st.value for st in TaskStatus}
    assert stats["running"] == 0 and stats["queued"] == 0
    assert stats["retries"] == 1
    assert stats["success_rate"] == pytest.approx(4 / 7)
    assert stats["elapsed"] == 5.0
    assert stats["throughput"] == pytest.approx(4 / 5.0)
    # Durations (first start to end) of the tasks that ran: 1, 2, 3, 1, 4, 5.
    durations = stats["durations"]
    assert durations["max"] == 5.0 and durations["p50"] == pytest.approx(2.5)
    assert {"p50", "p90", "p99"} <= set(durations)
    assert durations["p50"] <= durations["p90"] <= durations["p99"] <= durations["max"]
    assert s.progress == 1.0


def test_get_stats_before_anything_and_before_run():
    async def main():
        s = SmartScheduler()
        empty = s.get_stats()
        await s.add_task(job("a"))
        return empty, s.get_stats(), s.progress

    empty, before, progress = run_virtual(main())
    assert empty["total"] == 0 and empty["success_rate"] == 0.0 and empty["throughput"] == 0.0
    assert empty["elapsed"] == 0.0 and empty["durations"]["p50"] == 0.0
    assert before["total"] == 1 and before["queued"] == 1 and before["status"]["pending"] == 1
    assert progress == 0.0


def test_progress_fraction_moves_from_zero_to_one():
    fractions = []

    async def main():
        s = SmartScheduler(max_workers=1)
        for i in range(4):
            await s.add_task(job(f"t{i}", 1.0))
        s.subscribe(lambda e: fractions.append(s.progress) if e.new in TERMINAL else None)
        await s.run()
        return s

    s = run_virtual(main())
    assert fractions == [0.25, 0.5, 0.75, 1.0]
    assert s.get_stats()["progress"] == 1.0


def test_run_progress_draws_a_one_line_display_on_the_given_stream():
    stream = io.StringIO()

    async def main():
        s = SmartScheduler(max_workers=2)
        for i in range(3):
            await s.add_task(job(f"t{i}", 1.0))
        await s.add_task(Task(id="bad", func=Flaky(failures=9), max_retries=0))
        await s.run(progress=stream)
        return s

    s = run_virtual(main())
    out = stream.getvalue()
    assert out.startswith("\r") and out.endswith("\n") and out.count("\n") == 1
    final = out.rstrip("\n").split("\r")[-1]
    assert final.startswith("[" + "#" * 20 + "]")
    assert "已结束 4/4" in final and "完成 3" in final and "失败 1" in final
    assert "运行中 0" in final and "排队 0" in final
    assert s.tasks["t0"].status is COMPLETED
    assert s._hub.listeners == []  # the display unsubscribed itself


def test_run_progress_true_writes_to_stderr(capsys):
    async def main():
        s = SmartScheduler()
        await s.add_task(job("t", 1.0))
        await s.run(progress=True)

    run_virtual(main())
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "已结束 1/1" in captured.err and captured.err.endswith("\n")


def test_run_without_progress_prints_nothing(capsys):
    simulate([job("t", 1.0)])
    assert capsys.readouterr() == ("", "")


# ===================================================================== Time

def test_durations_come_from_the_loop_clock_and_datetimes_agree():
    before = datetime.now()
    tasks = [job("hour", 3600.0, timeout=None), job("after", 60.0, dependencies={"hour"},
                                                      timeout=None)]
    s = simulate(tasks)  # an hour of task time, on the virtual clock
    hour, after = s.tasks["hour"], s.tasks["after"]
    assert hour.attempts[0].duration == 3600.0
    assert isinstance(hour.created_at, datetime) and before <= hour.created_at <= datetime.now()
    assert isinstance(hour.started_at, datetime) and isinstance(hour.completed_at, datetime)
    assert hour.completed_at - hour.started_at == timedelta(hours=1)
    assert after.started_at - hour.started_at == timedelta(hours=1)
    assert after.completed_at - after.started_at == timedelta(minutes=1)
    assert s.get_stats()["elapsed"] == 3660.0
    assert s.get_stats()["durations"]["max"] == 3600.0


def test_started_at_is_the_first_attempt_and_completed_at_the_end():
    flaky = Flaky(failures=2, seconds=1.0)
    s = simulate([Task(id="f", func=flaky, retry_delay=1.0)])
    task = s.tasks["f"]
    # attempts: 0-1, 2-3, 5-6
    assert [(a.start, a.end) for a in task.attempts] == [(0.0, 1.0), (2.0, 3.0), (5.0, 6.0)]
    assert task.completed_at - task.started_at == timedelta(seconds=6)


def test_a_scheduler_can_run_again_with_new_tasks():
    async def main():
        s = SmartScheduler()
        await s.add_task(job("first", 1.0))
        await s.run()
        await s.add_task(job("second", 2.0, dependencies={"first"}))
        await s.run()
        return s

    s = run_virtual(main())
    assert all(t.status is COMPLETED for t in s.tasks.values())
    assert first_start(s, "second") == 1.0 and end_time(s, "second") == 3.0


def test_run_twice_at_once_is_refused():
    async def main():
        s = SmartScheduler()
        await s.add_task(job("a", 1.0))
        first = asyncio.create_task(s.run())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already"):
            await s.run()
        await first
        return s

    assert run_virtual(main()).tasks["a"].status is COMPLETED


def test_datetimes_stay_consistent_with_the_loop_clock_across_runs():
    """started_at/completed_at are "derived from the loop clock": their
    differences must equal loop-clock differences, also between two runs."""

    async def main():
        s = SmartScheduler()
        await s.add_task(job("a", 1.0))
        await s.run()
        await asyncio.sleep(100.0)  # virtual time passes between the runs
        await s.add_task(job("b", 1.0))
        await s.run()
        return s

    s = run_virtual(main())
    a, b = s.tasks["a"], s.tasks["b"]
    assert b.attempts[0].start - a.attempts[0].end == 100.0
    assert b.started_at - a.completed_at == timedelta(seconds=100)
    assert b.completed_at - a.started_at == timedelta(seconds=102)
