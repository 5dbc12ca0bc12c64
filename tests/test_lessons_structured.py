"""What notebook 02 sections 5 and 6 tell learners, run as claims.

Section 5: a TaskGroup waits for its tasks, cancels the siblings of a failed task
at the failure time (their finally runs then), raises an ExceptionGroup with every
failure that except* splits by type; asyncio.timeout covers a whole block where
wait_for covers one awaitable; an agent step either fails as a whole or catches
inside each tool wrapper. Section 6: Event wakes every waiter without polling,
the dependency board starts each job when its dependencies finish, a
read-modify-write across an await loses updates without a Lock, and
Condition.wait_for wakes when its predicate becomes true. Timing claims run on
the virtual clock.
"""

import asyncio
import gc
import weakref

import pytest

from course_lib import run_virtual


def _now():
    return asyncio.get_running_loop().time()


async def _answer_after(seconds, answer):
    await asyncio.sleep(seconds)
    return answer


async def _fail_after(seconds, exc):
    await asyncio.sleep(seconds)
    raise exc


# ------------------------------------------------------------------ TaskGroup

def test_the_taskgroup_block_ends_when_its_last_task_ends_and_every_task_is_done():
    async def main():
        async with asyncio.TaskGroup() as tg:
            search = tg.create_task(_answer_after(2, "搜索"))
            calc = tg.create_task(_answer_after(1, "计算器"))
            started_at = _now()
        return started_at, _now(), search.done() and calc.done(), search.result(), calc.result()

    assert run_virtual(main()) == (0.0, 2.0, True, "搜索", "计算器")


def test_taskgroup_cancels_siblings_at_the_failure_time_and_runs_their_finally():
    async def main():
        log = []

        async def slow_model():
            try:
                await asyncio.sleep(3)
            finally:
                log.append(("finally", _now()))

        try:
            async with asyncio.TaskGroup() as tg:
                slow = tg.create_task(slow_model())
                tg.create_task(_fail_after(1, ConnectionError("网络断了")))
        except ExceptionGroup as group:
            caught = [type(e) for e in group.exceptions]
        return log, caught, _now(), slow.cancelled()

    log, caught, ended_at, cancelled = run_virtual(main())
    assert log == [("finally", 1.0)]
    assert caught == [ConnectionError]
    assert ended_at == 1.0
    assert cancelled


def test_gather_leaves_the_sibling_running_where_taskgroup_cancels_it():
    async def main():
        slow = asyncio.create_task(_answer_after(3, "慢模型"))
        with pytest.raises(ConnectionError):
            await asyncio.gather(_fail_after(1, ConnectionError()), slow)
        still_running = not slow.done()
        await slow
        return still_running, _now()

    assert run_virtual(main()) == (True, 3.0)


def test_the_taskgroup_keeps_its_tasks_alive_without_the_caller_holding_them():
    async def main():
        mailbox = []

        async def job():
            reply = asyncio.get_running_loop().create_future()  # only this task holds it
            mailbox.append(weakref.ref(reply))
            return await reply

        async with asyncio.TaskGroup() as tg:
            tg.create_task(job())  # the caller keeps no reference
            await asyncio.sleep(0)
            gc.collect()
            reply = mailbox[0]()
            assert reply is not None  # the group held the task, so its future survived
            reply.set_result("回答")
            del reply
        return True

    assert run_virtual(main())


def test_gather_raises_only_the_first_of_two_simultaneous_failures():
    async def main():
        with pytest.raises(ConnectionError) as info:
            await asyncio.gather(_fail_after(1, ConnectionError("搜索")), _fail_after(1, ValueError("计算器")))
        return str(info.value)

    assert run_virtual(main()) == "搜索"


def test_except_and_except_star_cannot_be_mixed_in_one_try():
    source = "try:\n    pass\nexcept ValueError:\n    pass\nexcept* TypeError:\n    pass\n"
    with pytest.raises(SyntaxError):
        compile(source, "<mixed>", "exec")


def test_exception_group_carries_every_simultaneous_failure_and_except_star_splits_by_type():
    async def main():
        seen = {}
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(_fail_after(1, ConnectionError("搜索")))
                tg.create_task(_fail_after(1, ValueError("计算器")))
                tg.create_task(_fail_after(1, ConnectionError("天气")))
        except* ConnectionError as group:
            seen["ConnectionError"] = [str(e) for e in group.exceptions]
        except* ValueError as group:
            seen["ValueError"] = [str(e) for e in group.exceptions]
        return seen

    assert run_virtual(main()) == {"ConnectionError": ["搜索", "天气"], "ValueError": ["计算器"]}


def test_an_exception_type_no_except_star_catches_goes_on_in_a_new_group():
    async def main():
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(_fail_after(1, ConnectionError("搜索")))
                tg.create_task(_fail_after(1, ValueError("计算器")))
        except* ConnectionError:
            pass

    with pytest.raises(ExceptionGroup) as info:
        run_virtual(main())
    assert [type(e) for e in info.value.exceptions] == [ValueError]


def test_except_star_also_catches_a_plain_exception_wrapped_in_a_group():
    caught = []
    try:
        raise TimeoutError("到点了")
    except* TimeoutError as group:
        caught.append(group)
    assert isinstance(caught[0], ExceptionGroup)
    assert [type(e) for e in caught[0].exceptions] == [TimeoutError]


# ------------------------------------------------------------------ asyncio.timeout

def test_asyncio_timeout_covers_the_whole_block_cancels_the_current_await_and_raises_timeout_error():
    async def main():
        log = []

        async def step(name):
            try:
                await asyncio.sleep(1)
                log.append((name, _now()))
            finally:
                if name == "再问模型":
                    log.append(("finally", _now()))

        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2.5):
                await step("问模型")
                await step("调工具")
                await step("再问模型")
        return log, _now()

    log, ended_at = run_virtual(main())
    assert log == [("问模型", 1.0), ("调工具", 2.0), ("finally", 2.5)]
    assert ended_at == 2.5


def test_wait_for_on_each_short_step_never_fires_so_the_whole_step_takes_longer():
    async def main():
        for _ in range(3):
            await asyncio.wait_for(asyncio.sleep(1), timeout=2.5)
        return _now()

    assert run_virtual(main()) == 3.0


def test_timeout_around_a_taskgroup_cancels_every_unfinished_task_at_the_deadline():
    async def main():
        cleaned = []

        async def tool(seconds):
            try:
                await asyncio.sleep(seconds)
            finally:
                cleaned.append((seconds, _now()))

        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.4):
                async with asyncio.TaskGroup() as tg:
                    tasks = [tg.create_task(tool(s)) for s in (0.5, 0.2, 0.3, 2)]
        return sorted(cleaned), [t.cancelled() for t in tasks], _now()

    cleaned, cancelled, ended_at = run_virtual(main())
    assert cleaned == [(0.2, 0.2), (0.3, 0.3), (0.5, 0.4), (2, 0.4)]
    assert cancelled == [True, False, False, True]
    assert ended_at == 0.4


# ------------------------------------------------------------------ the agent step, both ways

async def _search(broken):
    if broken:
        await asyncio.sleep(0.1)
        raise ConnectionError("搜索服务连不上")
    await asyncio.sleep(0.5)
    return "网页"


async def _strict_step(broken, deadline=1.0):
    calls = {"search": lambda: _search(broken), "calculator": lambda: _answer_after(0.2, 437),
             "weather": lambda: _answer_after(0.3, "晴")}
    async with asyncio.timeout(deadline):
        async with asyncio.TaskGroup() as tg:
            tasks = {name: tg.create_task(call()) for name, call in calls.items()}
    return {name: task.result() for name, task in tasks.items()}


def test_the_strict_agent_step_returns_every_result_when_the_slowest_tool_is_done():
    async def main():
        return await _strict_step(broken=False), _now()

    assert run_virtual(main()) == ({"search": "网页", "calculator": 437, "weather": "晴"}, 0.5)


def test_one_failing_tool_sinks_the_strict_step_at_its_failure_time():
    async def main():
        messages = []
        try:
            await _strict_step(broken=True)
        except* ConnectionError as group:
            messages = [str(e) for e in group.exceptions]
        return messages, _now()

    assert run_virtual(main()) == (["搜索服务连不上"], 0.1)


def test_the_strict_step_times_out_as_a_whole():
    async def main():
        with pytest.raises(TimeoutError):
            await _strict_step(broken=False, deadline=0.4)
        return _now()

    assert run_virtual(main()) == 0.4


async def _safe_call(coro):
    try:
        return await coro
    except Exception as exc:
        return f"出错：{exc}"


def test_catching_inside_each_tool_wrapper_keeps_the_other_results():
    async def main():
        async with asyncio.timeout(1.0):
            async with asyncio.TaskGroup() as tg:
                tasks = {"search": tg.create_task(_safe_call(_search(broken=True))),
                         "calculator": tg.create_task(_safe_call(_answer_after(0.2, 437))),
                         "weather": tg.create_task(_safe_call(_answer_after(0.3, "晴")))}
        return {name: task.result() for name, task in tasks.items()}, _now()

    assert run_virtual(main()) == ({"search": "出错：搜索服务连不上", "calculator": 437, "weather": "晴"}, 0.3)


def test_the_tool_wrapper_catching_exception_does_not_catch_the_timeout_cancellation():
    assert not issubclass(asyncio.CancelledError, Exception)

    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.4):
                async with asyncio.TaskGroup() as tg:
                    slow = tg.create_task(_safe_call(_search(broken=False)))
        return slow.cancelled(), _now()

    assert run_virtual(main()) == (True, 0.4)


def test_the_exercise_solution_keeps_what_finished_before_the_deadline():
    async def collect_within(calls, deadline):
        tasks = {}
        try:
            async with asyncio.timeout(deadline):
                async with asyncio.TaskGroup() as tg:
                    for name, seconds in calls:
                        tasks[name] = tg.create_task(_answer_after(seconds, name))
        except TimeoutError:
            pass
        return {name: task.result() for name, task in tasks.items() if not task.cancelled()}

    async def main(deadline):
        return await collect_within([("fast", 0.2), ("medium", 0.5), ("slow", 2)], deadline), _now()

    assert run_virtual(main(1)) == ({"fast": "fast", "medium": "medium"}, 1.0)
    assert run_virtual(main(3)) == ({"fast": "fast", "medium": "medium", "slow": "slow"}, 2.0)
    assert run_virtual(main(0.1)) == ({}, 0.1)


# ------------------------------------------------------------------ Event

def test_event_set_wakes_every_waiter_at_once_and_later_waits_pass_straight_through():
    async def main():
        flag = asyncio.Event()
        woke = []

        async def waiter(name):
            await flag.wait()
            woke.append((name, _now()))

        async def raise_flag():
            await asyncio.sleep(1)
            flag.set()

        async with asyncio.TaskGroup() as tg:
            for name in ("a", "b", "c"):
                tg.create_task(waiter(name))
            tg.create_task(raise_flag())
        await flag.wait()  # already set: returns without waiting
        return woke, _now()

    assert run_virtual(main()) == ([("a", 1.0), ("b", 1.0), ("c", 1.0)], 1.0)


def test_event_clear_makes_the_next_wait_block_again():
    async def main():
        flag = asyncio.Event()
        flag.set()
        flag.clear()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(flag.wait(), timeout=5)
        return flag.is_set(), _now()

    assert run_virtual(main()) == (False, 5.0)


def test_polling_wakes_eleven_times_and_late_while_the_event_waiter_wakes_once_on_time():
    async def polling():
        state = {"done": False}
        wakeups = 0

        async def download():
            await asyncio.sleep(1.05)
            state["done"] = True

        async with asyncio.TaskGroup() as tg:
            tg.create_task(download())
            while not state["done"]:
                await asyncio.sleep(0.1)
                wakeups += 1
        return wakeups, round(_now(), 2)

    async def with_event():
        downloaded = asyncio.Event()
        wakeups = 0

        async def download():
            await asyncio.sleep(1.05)
            downloaded.set()

        async with asyncio.TaskGroup() as tg:
            tg.create_task(download())
            await downloaded.wait()
            wakeups += 1
        return wakeups, round(_now(), 2)

    assert run_virtual(polling()) == (11, 1.1)
    assert run_virtual(with_event()) == (1, 1.05)


# ------------------------------------------------------------------ the dependency board

async def _run_board(jobs):
    """02's run_board, recording (event, name, time) instead of printing."""
    log = []
    finished = {name: asyncio.Event() for name in jobs}

    async def worker(name, seconds, deps):
        for dep in deps:
            await finished[dep].wait()
        log.append(("start", name, _now()))
        await asyncio.sleep(seconds)
        finished[name].set()
        log.append(("end", name, _now()))

    async with asyncio.TaskGroup() as tg:
        for name, (seconds, deps) in jobs.items():
            tg.create_task(worker(name, seconds, deps))
    return log


BOARD = {
    "搜索资料": (2, []),
    "查天气": (1, []),
    "写大纲": (1, ["搜索资料"]),
    "写正文": (3, ["写大纲", "查天气"]),
    "配图": (1, ["写大纲"]),
}


def test_the_dependency_board_starts_each_job_the_moment_its_last_dependency_ends():
    log = run_virtual(_run_board(BOARD))
    starts = [(name, at) for kind, name, at in log if kind == "start"]
    assert starts == [("搜索资料", 0.0), ("查天气", 0.0), ("写大纲", 2.0), ("写正文", 3.0), ("配图", 3.0)]
    ends = {name: at for kind, name, at in log if kind == "end"}
    for name, (_, deps) in BOARD.items():
        start = dict(starts)[name]
        assert start == max((ends[dep] for dep in deps), default=0.0)
    assert max(ends.values()) == 6.0


def test_a_dependency_cycle_on_the_board_waits_forever():
    async def main():
        await asyncio.wait_for(_run_board({"A": (1, ["B"]), "B": (1, ["A"])}), timeout=100)

    with pytest.raises(TimeoutError):
        run_virtual(main())


# ------------------------------------------------------------------ Lock

class _TokenBudget:
    def __init__(self, tokens):
        self.tokens = tokens
        self.lock = asyncio.Lock()

    async def spend_unsafe(self, cost):
        left = self.tokens
        await asyncio.sleep(0.1)
        self.tokens = left - cost

    async def spend(self, cost):
        async with self.lock:
            left = self.tokens
            await asyncio.sleep(0.1)
            self.tokens = left - cost

    async def spend_after_the_answer(self, cost):
        await asyncio.sleep(0.1)
        self.tokens -= cost


async def _five_agents(method):
    budget = _TokenBudget(1000)
    async with asyncio.TaskGroup() as tg:
        for _ in range(5):
            tg.create_task(getattr(budget, method)(100))
    return budget.tokens, round(_now(), 2)


def test_a_read_modify_write_across_an_await_without_a_lock_loses_updates():
    assert run_virtual(_five_agents("spend_unsafe")) == (900, 0.1)


def test_the_locked_read_modify_write_keeps_every_update_but_queues_the_agents():
    assert run_virtual(_five_agents("spend")) == (500, 0.5)


def test_an_update_with_no_await_between_read_and_write_needs_no_lock():
    assert run_virtual(_five_agents("spend_after_the_answer")) == (500, 0.1)


def test_a_primitive_that_waited_on_one_loop_refuses_another_loop():
    lock = {}

    async def first():
        lock["it"] = asyncio.Lock()
        async with lock["it"]:
            waiter = asyncio.create_task(lock["it"].acquire())  # has to wait: binds the lock to this loop
            await asyncio.sleep(0)
        await waiter
        lock["it"].release()

    async def second():
        async with lock["it"]:
            waiter = asyncio.create_task(lock["it"].acquire())
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="different event loop"):
                await waiter

    run_virtual(first())
    run_virtual(second())


# ------------------------------------------------------------------ Condition

def test_condition_wait_for_wakes_each_waiter_when_its_predicate_becomes_true():
    async def main():
        pool = {"tokens": 0}
        cond = asyncio.Condition()
        got = []
        checks = {"大请求": 0, "小请求": 0}

        async def agent(name, need):
            def enough():
                checks[name] += 1
                return pool["tokens"] >= need

            async with cond:
                await cond.wait_for(enough)
                pool["tokens"] -= need
                got.append((name, _now()))

        async def refill():
            for _ in range(4):
                await asyncio.sleep(1)
                async with cond:
                    pool["tokens"] += 100
                    cond.notify_all()

        async with asyncio.TaskGroup() as tg:
            tg.create_task(agent("大请求", 300))
            tg.create_task(agent("小请求", 100))
            tg.create_task(refill())
        return got, checks, pool["tokens"]

    got, checks, left = run_virtual(main())
    assert got == [("小请求", 1.0), ("大请求", 4.0)]
    assert checks == {"大请求": 5, "小请求": 2}  # once at the start, then once per notify_all while waiting
    assert left == 0
