"""What notebooks 00 and 01 tell learners about tasks, cancellation and errors, run as claims.

Each test runs one sentence of the lessons: create_task's two traps (a task only
the loop knows is collected; an exception nobody reads is only logged), what
cancel() does, shield, wait_for and gather on failure, and how run_virtual sits
next to the notebook's own loop. Timing claims run on the virtual clock.
"""

import asyncio
import gc
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import pytest

from course_lib import run_virtual


def _capture_loop_messages(loop):
    """Route the loop's exception-handler calls into a list instead of the asyncio logger."""
    contexts = []
    loop.set_exception_handler(lambda _loop, context: contexts.append(context))
    return contexts


def _messages(contexts):
    return [context["message"] for context in contexts]


async def _wait_for_private_reply(mailbox=None):
    """01's wait_for_reply: waits on a future that only this task holds."""
    reply = asyncio.get_running_loop().create_future()
    if mailbox is not None:
        mailbox.append(weakref.ref(reply))  # weak: lets the test answer without keeping the task alive
    return await reply


# ------------------------------------------------------------------ create_task, trap 1

def test_a_task_nobody_references_is_collected_while_pending_and_logged_as_destroyed():
    async def main():
        contexts = _capture_loop_messages(asyncio.get_running_loop())
        mailbox = []
        asyncio.create_task(_wait_for_private_reply(mailbox), name="没人记着的任务")
        await asyncio.sleep(0)  # it starts and parks on its private future
        gc.collect()
        return _messages(contexts), mailbox[0]() is None

    messages, reply_collected = run_virtual(main())
    assert messages == ["Task was destroyed but it is pending!"]
    assert reply_collected  # the task, its coroutine and its future all went


def test_the_loop_keeps_only_a_weak_reference_to_its_tasks():
    async def main():
        task = asyncio.create_task(_wait_for_private_reply())
        await asyncio.sleep(0)
        ref = weakref.ref(task)
        contexts = _capture_loop_messages(asyncio.get_running_loop())
        del task
        gc.collect()
        return ref() is None, _messages(contexts)

    gone, messages = run_virtual(main())
    assert gone and messages == ["Task was destroyed but it is pending!"]


def test_a_task_kept_in_a_background_set_survives_gc_runs_to_completion_and_leaves_the_set():
    async def main():
        contexts = _capture_loop_messages(asyncio.get_running_loop())
        background, mailbox = set(), []
        task = asyncio.create_task(_wait_for_private_reply(mailbox), name="有人记着的任务")
        background.add(task)
        task.add_done_callback(background.discard)
        del task
        await asyncio.sleep(0)
        gc.collect()
        survivors = [(t.get_name(), t.done()) for t in background]
        mailbox[0]().set_result("回信")  # the future is still alive because the task is
        (finished,) = background
        result = await finished
        return survivors, result, len(background), _messages(contexts)

    survivors, result, left, messages = run_virtual(main())
    assert survivors == [("有人记着的任务", False)]
    assert result == "回信"
    assert left == 0  # the done callback took it out of the set
    assert messages == []


def test_the_done_callback_empties_the_set_once_a_kept_task_is_cancelled():
    """01's clean-up cell: cancel, a short wait, and the set is empty."""

    async def main():
        background = set()
        task = asyncio.create_task(_wait_for_private_reply())
        background.add(task)
        task.add_done_callback(background.discard)
        await asyncio.sleep(0)
        for t in list(background):
            t.cancel()
        await asyncio.sleep(0.01)
        return len(background), task.cancelled()

    assert run_virtual(main()) == (0, True)


def test_an_unreferenced_task_sleeping_on_the_loops_timer_is_not_collected():
    """01's aside: waiting on asyncio.sleep, the loop's timer holds the task indirectly."""

    async def nap(done):
        await asyncio.sleep(1)
        done.append(asyncio.get_running_loop().time())

    async def main():
        contexts = _capture_loop_messages(asyncio.get_running_loop())
        done = []
        asyncio.create_task(nap(done))
        await asyncio.sleep(0)
        gc.collect()
        await asyncio.sleep(2)
        return done, _messages(contexts)

    assert run_virtual(main()) == ([1.0], [])


# ------------------------------------------------------------------ create_task, trap 2

async def _call_tool():
    raise ConnectionError("网络断了")


def test_an_exception_nobody_reads_is_logged_as_never_retrieved_when_the_task_is_collected():
    async def main():
        contexts = _capture_loop_messages(asyncio.get_running_loop())
        task = asyncio.create_task(_call_tool(), name="出错没人管的任务")
        await asyncio.sleep(0)  # it runs, raises and finishes
        finished_before = task.done()
        before = _messages(contexts)
        del task
        gc.collect()
        return finished_before, before, contexts

    finished_before, before, contexts = run_virtual(main())
    assert finished_before and before == []  # nothing is said while the task is still referenced
    assert _messages(contexts) == ["Task exception was never retrieved"]
    assert isinstance(contexts[0]["exception"], ConnectionError)


def test_a_done_callback_that_reads_the_exception_reports_it_and_nothing_is_logged():
    """01's start_background: keep a reference and read the exception in the callback."""

    async def main():
        contexts = _capture_loop_messages(asyncio.get_running_loop())
        background, reports = set(), []

        def on_done(task):
            background.discard(task)
            if not task.cancelled() and task.exception() is not None:
                reports.append((task.get_name(), repr(task.exception())))

        def start_background(coro, name):
            task = asyncio.create_task(coro, name=name)
            background.add(task)
            task.add_done_callback(on_done)
            return task

        start_background(_call_tool(), name="有人管的任务")
        await asyncio.sleep(0.01)
        gc.collect()
        return reports, len(background), _messages(contexts)

    assert run_virtual(main()) == ([("有人管的任务", "ConnectionError('网络断了')")], 0, [])


def test_awaiting_or_gathering_a_failed_task_hands_the_exception_over_and_nothing_is_logged():
    async def main():
        contexts = _capture_loop_messages(asyncio.get_running_loop())
        task = asyncio.create_task(_call_tool())
        with pytest.raises(ConnectionError):
            await task
        results = await asyncio.gather(asyncio.create_task(_call_tool()), return_exceptions=True)
        del task
        gc.collect()
        return [type(r) for r in results], _messages(contexts)

    assert run_virtual(main()) == ([ConnectionError], [])


def test_exception_of_a_cancelled_task_raises_cancelled_error():
    async def main():
        task = asyncio.create_task(asyncio.sleep(10))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.wait([task])
        with pytest.raises(asyncio.CancelledError):
            task.exception()
        return task.cancelled()

    assert run_virtual(main())


# ------------------------------------------------------------------ cancel()

def test_cancelled_error_is_a_base_exception_that_except_exception_does_not_catch():
    assert issubclass(asyncio.CancelledError, BaseException)
    assert not issubclass(asyncio.CancelledError, Exception)

    async def careless():
        try:
            await asyncio.sleep(10)
        except Exception:  # the point: this does not see the cancellation
            return "caught"

    async def main():
        task = asyncio.create_task(careless())
        await asyncio.sleep(1)
        task.cancel()
        await asyncio.wait([task])
        return task.cancelled()

    assert run_virtual(main())


def test_cancel_returns_at_once_and_cancelled_error_rises_at_the_await_where_the_task_waits():
    """01's "停止生成": cancelled at 2.5 while in its third sleep; except and finally run; state cancelled."""

    async def long_answer(log):
        loop = asyncio.get_running_loop()
        try:
            for i in range(1, 6):
                await asyncio.sleep(1)
                log.append((loop.time(), f"第 {i} 段"))
        except asyncio.CancelledError:
            log.append((loop.time(), "CancelledError"))
            raise
        finally:
            log.append((loop.time(), "finally"))

    async def main():
        log = []
        task = asyncio.create_task(long_answer(log))
        await asyncio.sleep(2.5)
        task.cancel()
        done_right_after_cancel = task.done()
        await asyncio.wait([task])
        return log, done_right_after_cancel, task.cancelled()

    log, done_right_after_cancel, cancelled = run_virtual(main())
    assert not done_right_after_cancel
    assert log == [(1.0, "第 1 段"), (2.0, "第 2 段"), (2.5, "CancelledError"), (2.5, "finally")]
    assert cancelled


def test_a_task_that_is_not_waiting_gets_cancelled_error_at_its_next_await():
    async def main():
        log = []

        async def cancels_itself():
            asyncio.current_task().cancel()
            log.append("still running")  # cancel() did not stop it on the spot
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                log.append("CancelledError at the next await")
                raise

        task = asyncio.create_task(cancels_itself())
        await asyncio.wait([task])
        return log, task.cancelled()

    assert run_virtual(main()) == (["still running", "CancelledError at the next await"], True)


async def _stubborn(log):
    loop = asyncio.get_running_loop()
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        log.append(loop.time())  # swallowed: no raise
    await asyncio.sleep(5)
    return "我还是干完了"


def test_swallowing_cancelled_error_lets_the_task_finish_normally_and_the_caller_waits():
    async def main():
        log = []
        task = asyncio.create_task(_stubborn(log))
        await asyncio.sleep(1)
        task.cancel()
        answer = await task  # does not raise
        return log, answer, asyncio.get_running_loop().time(), task.cancelled()

    assert run_virtual(main()) == ([1.0], "我还是干完了", 6.0, False)


def test_wait_for_cannot_stop_a_task_that_swallows_cancellation():
    async def main():
        log = []
        answer = await asyncio.wait_for(_stubborn(log), timeout=1)  # no TimeoutError
        return log, answer, asyncio.get_running_loop().time()

    assert run_virtual(main()) == ([1.0], "我还是干完了", 6.0)


def test_shield_keeps_the_inner_job_running_while_the_waiter_is_cancelled():
    async def main():
        loop = asyncio.get_running_loop()
        saved = []

        async def save_history():
            await asyncio.sleep(2)
            saved.append(loop.time())

        async def finish_chat(saving):
            await asyncio.shield(saving)

        saving = asyncio.create_task(save_history())
        handler = asyncio.create_task(finish_chat(saving))
        await asyncio.sleep(0.5)
        handler.cancel()
        await asyncio.wait([handler])
        at_cancel = (loop.time(), handler.cancelled(), saving.done())
        await saving
        return at_cancel, saved, saving.cancelled()

    assert run_virtual(main()) == ((0.5, True, False), [2.0], False)


def test_wait_for_cancels_the_inner_task_on_timeout_then_raises_timeout_error():
    async def main():
        loop = asyncio.get_running_loop()
        log = []

        async def slow_model():
            try:
                await asyncio.sleep(3)
                return "慢模型 的回答"
            except asyncio.CancelledError:
                log.append((loop.time(), "CancelledError"))
                raise
            finally:
                log.append((loop.time(), "finally"))

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(slow_model(), timeout=1)
        return log, loop.time()

    assert run_virtual(main()) == ([(1.0, "CancelledError"), (1.0, "finally")], 1.0)


def test_wait_with_a_timeout_leaves_the_unfinished_tasks_running():
    async def main():
        loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(asyncio.sleep(s, result=s)) for s in (1, 2, 3)]
        done, pending = await asyncio.wait(tasks, timeout=2.5)
        still_running = [not t.done() and not t.cancelled() for t in pending]
        results = await asyncio.gather(*pending)
        return len(done), still_running, results, loop.time()

    assert run_virtual(main()) == (2, [True], [3], 3.0)


# ------------------------------------------------------------------ errors: gather vs wait

async def _model(name, seconds):
    await asyncio.sleep(seconds)
    return f"{name} 的回答"


async def _broken():
    await asyncio.sleep(1)
    raise ConnectionError("网络断了")


def test_gather_raises_the_first_exception_while_a_sibling_keeps_running():
    async def main():
        loop = asyncio.get_running_loop()
        slow = asyncio.create_task(_model("慢模型", 3))
        with pytest.raises(ConnectionError):
            await asyncio.gather(_broken(), slow)
        at_raise = (loop.time(), slow.done())
        answer = await slow
        return at_raise, answer, loop.time()

    assert run_virtual(main()) == ((1.0, False), "慢模型 的回答", 3.0)


def test_gather_return_exceptions_and_wait_hand_back_the_exception_without_raising():
    async def main():
        results = await asyncio.gather(_model("好模型", 1), _broken(), return_exceptions=True)
        done, _ = await asyncio.wait([asyncio.create_task(_broken())])
        return results, done.pop().exception()

    results, from_wait = run_virtual(main())
    assert results[0] == "好模型 的回答" and isinstance(results[1], ConnectionError)
    assert isinstance(from_wait, ConnectionError)


# ------------------------------------------------------------------ run_virtual next to the notebook's loop

@pytest.mark.asyncio
async def test_a_task_created_on_the_calling_loop_does_not_advance_while_run_virtual_runs():
    steps = []

    async def background():
        while True:
            steps.append("step")
            await asyncio.sleep(0)

    task = asyncio.create_task(background())
    await asyncio.sleep(0)
    before = len(steps)

    async def inner():
        await asyncio.sleep(60)
        return len(steps)

    during = run_virtual(inner())  # occupies the caller until it returns
    after_return = len(steps)
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait([task])
    assert before == during == after_return == 1
    assert len(steps) > after_return  # it moves again once the caller's loop runs


@pytest.mark.asyncio
async def test_a_future_of_the_calling_loop_cannot_be_awaited_inside_run_virtual():
    reply = asyncio.get_running_loop().create_future()

    async def inner():
        await reply

    with pytest.raises(RuntimeError, match="different loop"):
        run_virtual(inner())
    reply.cancel()


@pytest.mark.asyncio
async def test_an_event_used_on_the_calling_loop_cannot_be_used_inside_run_virtual():
    signal = asyncio.Event()
    waiter = asyncio.create_task(signal.wait())
    await asyncio.sleep(0)  # the Event is now bound to this loop

    async def inner():
        await signal.wait()

    with pytest.raises(RuntimeError, match="different event loop"):
        run_virtual(inner())
    signal.set()
    await waiter


# ------------------------------------------------------------------ executors in coroutines

def _pool_exit(shutdown_off_the_loop):
    """A job that finishes only when the loop runs a callback; shut the pool down as 01 shows, or with `with`.

    A thread pool stands in for 01's process pool: both exits call the same blocking
    ``shutdown(wait=True)``.  The result says whether the loop ran while the pool shut down.
    """
    async def main():
        loop = asyncio.get_running_loop()
        loop_ran = threading.Event()
        pool = ThreadPoolExecutor(max_workers=1)
        job = loop.run_in_executor(pool, loop_ran.wait, 0.5 if not shutdown_off_the_loop else 30)
        loop.call_soon(loop_ran.set)          # the loop's next turn lets the job finish
        if shutdown_off_the_loop:
            await asyncio.to_thread(pool.shutdown)
        else:
            with pool:                         # leaving `with` = pool.shutdown(wait=True), on the loop
                pass
        return await job

    return asyncio.run(main())


def test_leaving_a_pool_with_block_inside_a_coroutine_blocks_the_loop_until_its_jobs_end():
    assert _pool_exit(shutdown_off_the_loop=False) is False   # the job timed out: the loop never ran


def test_shutting_the_pool_down_through_to_thread_keeps_the_loop_running():
    assert _pool_exit(shutdown_off_the_loop=True) is True

