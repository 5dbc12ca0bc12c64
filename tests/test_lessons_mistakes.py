"""What 03's section on common mistakes says about asyncio, run as tests.

Each test runs one claim the notebook makes: the warning Python prints for a
mistake, what the mistake costs, and what the tools for finding it show.
"""

import ast
import asyncio
import gc
import io
import linecache
import logging
import os
import re
import subprocess
import sys
import threading
import textwrap
import time
import warnings

import pytest

from course_lib import run_virtual


def _runtime_warnings(caught):
    return [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


# ---------------------------------------------------------------- mistake 1: a forgotten await

async def save_memory(note):
    await asyncio.sleep(0)
    return note


def test_a_coroutine_that_is_never_awaited_warns_when_it_is_collected_and_never_runs():
    ran = []

    async def remember():
        ran.append("saved")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        remember()                      # the mistake: called, never awaited
        gc.collect()
    assert ran == []
    assert any("coroutine" in m and "remember" in m and "was never awaited" in m
               for m in _runtime_warnings(caught))


def test_a_never_awaited_coroutine_held_in_a_reference_cycle_warns_only_when_gc_collects_it():
    async def remember():
        pass

    was_enabled = gc.isenabled()
    gc.disable()                        # no automatic collection while we look
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            holder = [remember()]
            holder.append(holder)       # a cycle: only the garbage collector can free it
            del holder
            before = _runtime_warnings(caught)
            gc.collect()
            after = _runtime_warnings(caught)
    finally:
        if was_enabled:
            gc.enable()
    assert not any("was never awaited" in m for m in before)
    assert any("was never awaited" in m for m in after)


def test_in_debug_mode_the_never_awaited_warning_says_where_the_coroutine_was_created():
    async def main():
        save_memory("忘了 await")
        gc.collect()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with asyncio.Runner(debug=True) as runner:
            runner.run(main())
    messages = [m for m in _runtime_warnings(caught) if "was never awaited" in m]
    assert messages, _runtime_warnings(caught)
    assert "Coroutine created at (most recent call last)" in messages[0]
    assert ", in main" in messages[0]


def test_without_debug_mode_the_never_awaited_warning_has_no_creation_place():
    async def main():
        save_memory("忘了 await")
        gc.collect()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
    messages = [m for m in _runtime_warnings(caught) if "was never awaited" in m]
    assert messages and "Coroutine created at" not in messages[0]


# ---------------------------------------------------------------- mistake 2: blocking the loop

async def _lateness_of_a_timer_while(wait):
    """Start a 0.05 s timer in another task, run *wait*; how late the timer fired."""
    loop = asyncio.get_running_loop()

    async def timer():
        due = loop.time() + 0.05
        await asyncio.sleep(0.05)
        return loop.time() - due

    task = asyncio.create_task(timer())
    await asyncio.sleep(0)              # the timer task starts and arms its timer
    await wait()
    return await task


@pytest.mark.asyncio
async def test_time_sleep_inside_a_coroutine_delays_every_other_task_by_the_block():
    async def blocking():
        time.sleep(0.2)                 # the whole loop stops for 0.2 s

    late = await _lateness_of_a_timer_while(blocking)
    assert late >= 0.2 - 0.05 - 0.01    # due at 0.05, could only fire when the block ended


@pytest.mark.asyncio
async def test_asyncio_sleep_and_to_thread_leave_the_loop_free_and_a_blocking_call_does_not():
    loop = asyncio.get_running_loop()
    tick = threading.Event()            # set by a timer on the loop: proof that the loop ran

    loop.call_later(0.05, tick.set)
    await asyncio.sleep(0.2)
    assert tick.is_set()                # the timer fired while we slept

    tick.clear()
    loop.call_later(0.05, tick.set)
    assert await asyncio.to_thread(tick.wait, 30)   # the thread saw the loop's tick

    tick.clear()
    loop.call_later(0.05, tick.set)
    assert not tick.wait(0.3)           # blocking in the coroutine: the loop could not tick
    assert await asyncio.to_thread(tick.wait, 30)   # it fires once we let the loop run


@pytest.mark.asyncio
async def test_blocking_calls_in_threads_gathered_run_at_the_same_time_in_order():
    meet = threading.Barrier(3, timeout=30)   # passes only when all three are running at once

    def legacy_translate(text):
        meet.wait()
        return f"[译] {text}"

    results = await asyncio.gather(*(asyncio.to_thread(legacy_translate, t) for t in ["a", "b", "c"]))
    assert results == ["[译] a", "[译] b", "[译] c"]


# ---------------------------------------------------------------- mistake 3: await in a for loop

async def call_tool(name):
    await asyncio.sleep(1)
    return f"{name}的结果"


def test_awaiting_in_a_loop_takes_the_sum_and_gather_takes_the_longest():
    tools = ["天气", "日历", "新闻"]

    async def one_by_one():
        results = [await call_tool(name) for name in tools]
        return results, asyncio.get_running_loop().time()

    async def all_together():
        results = await asyncio.gather(*(call_tool(name) for name in tools))
        return results, asyncio.get_running_loop().time()

    assert run_virtual(one_by_one()) == (["天气的结果", "日历的结果", "新闻的结果"], 3.0)
    assert run_virtual(all_together()) == (["天气的结果", "日历的结果", "新闻的结果"], 1.0)


# ---------------------------------------------------------------- the recap table's other rows

@pytest.mark.asyncio
async def test_asyncio_run_inside_a_running_loop_raises_runtime_error():
    coro = save_memory("脚本")
    with pytest.raises(RuntimeError, match="cannot be called from a running event loop"):
        asyncio.run(coro)
    coro.close()


# ---------------------------------------------------------------- tool 1: debug mode

def _slow_step_messages(caplog, debug):
    async def slow_tool():
        time.sleep(0.15)

    async def main():
        await asyncio.create_task(slow_tool(), name="slow_tool")

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        with asyncio.Runner(debug=debug) as runner:
            runner.run(main())
    return [r.getMessage() for r in caplog.records if r.name == "asyncio"]


def test_debug_mode_logs_a_step_longer_than_slow_callback_duration_naming_the_task(caplog):
    messages = _slow_step_messages(caplog, debug=True)
    assert any(re.fullmatch(r"Executing <Task .*name='slow_tool'.*> took 0\.\d+ seconds", m)
               for m in messages), messages


def test_without_debug_mode_a_slow_step_is_not_reported(caplog):
    assert _slow_step_messages(caplog, debug=False) == []


def test_the_slow_callback_threshold_is_a_tenth_of_a_second_by_default():
    async def threshold():
        return asyncio.get_running_loop().slow_callback_duration

    assert asyncio.run(threshold()) == 0.1


def test_three_ways_to_switch_debug_mode_on():
    async def is_debug():
        return asyncio.get_running_loop().get_debug()

    assert asyncio.run(is_debug(), debug=True) is True
    loop = asyncio.new_event_loop()
    try:
        loop.set_debug(True)
        assert loop.run_until_complete(is_debug()) is True
    finally:
        loop.close()
    code = ("import asyncio\n"
            "async def d(): return asyncio.get_running_loop().get_debug()\n"
            "print(asyncio.run(d()))")
    env = {**os.environ, "PYTHONASYNCIODEBUG": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


# ---------------------------------------------------------------- tool 2: names and all_tasks

def test_all_tasks_lists_a_stuck_named_task_and_the_running_one_but_not_finished_ones():
    async def wait_for_user(confirmed):
        await confirmed.wait()

    async def main():
        confirmed = asyncio.Event()
        stuck = asyncio.create_task(wait_for_user(confirmed), name="等用户确认")
        asyncio.create_task(call_tool("搜索"), name="搜索网页")
        await asyncio.sleep(5)
        pending = asyncio.all_tasks()
        frame = stuck.get_stack()[-1]
        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        stuck.cancel()
        return {t.get_name() for t in pending}, asyncio.current_task() in pending, frame.f_code.co_name, line

    names, lists_itself, function, line = run_virtual(main())
    assert "等用户确认" in names and "搜索网页" not in names
    assert lists_itself and len(names) == 2
    assert (function, line) == ("wait_for_user", "await confirmed.wait()")


def test_an_unnamed_task_is_called_task_and_a_number_and_print_stack_shows_where_it_waits():
    async def wait_for_user(confirmed):
        await confirmed.wait()

    async def main():
        task = asyncio.create_task(wait_for_user(asyncio.Event()))
        await asyncio.sleep(0)
        stack = io.StringIO()
        task.print_stack(file=stack)
        task.cancel()
        return task.get_name(), stack.getvalue()

    name, stack = run_virtual(main())
    assert re.fullmatch(r"Task-\d+", name)
    assert "in wait_for_user" in stack and "await confirmed.wait()" in stack


# ---------------------------------------------------------------- nest_asyncio2

NESTED = textwrap.dedent('''
    import asyncio
    import nest_asyncio2

    order = []

    async def outer_ticker():
        for i in range(3):
            order.append(f"outer {i}")
            await asyncio.sleep(0)

    async def inner():
        await asyncio.sleep(0.01)
        return "inner done"

    def script_style():                # a plain function that calls asyncio.run()
        return asyncio.run(inner())

    async def main():
        nest_asyncio2.apply()
        ticker = asyncio.create_task(outer_ticker())
        order.append(script_style())   # nested run inside the running loop
        order.append(script_style())   # the patch stays on
        await ticker
        print(order)

    asyncio.run(main())

    class OtherLoop(asyncio.AbstractEventLoop):
        pass
    try:
        nest_asyncio2.apply(OtherLoop())
    except ValueError as exc:
        print("refused:", exc)
''')


def test_nest_asyncio2_lets_asyncio_run_nest_runs_outer_tasks_meanwhile_and_only_patches_asyncio_loops():
    out = subprocess.run([sys.executable, "-c", NESTED], capture_output=True, text=True, check=True)
    order_line, refused_line = out.stdout.strip().splitlines()
    order = ast.literal_eval(order_line)
    assert order.count("inner done") == 2
    assert order.index("outer 0") < order.index("inner done")   # the outer task ran during the nested run
    assert refused_line.startswith("refused: Can't patch loop")
