"""What 03 (实战技巧) teaches about rate limits, pipelines and hedged requests, run as claims.

Each test runs one thing the notebook's prose says, on the virtual clock, so
the numbers are exact and nothing waits for real.
"""

import asyncio
import json
import math
import re
from pathlib import Path

import pytest

from course_lib import run_virtual
from course_lib.ratelimit import TokenBucket

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "03_practical_patterns.ipynb"


# ----------------------------------------------------------------- token bucket

def _start_times(bucket, n):
    async def main():
        loop = asyncio.get_running_loop()
        starts = []

        async def request():
            await bucket.acquire()
            starts.append(round(loop.time(), 9))

        await asyncio.gather(*(request() for _ in range(n)))
        return starts

    return run_virtual(main())


def test_a_token_bucket_lets_a_burst_of_capacity_through_then_one_every_one_over_rate():
    assert _start_times(TokenBucket(capacity=3, rate=0.5), 10) == [0, 0, 0, 2, 4, 6, 8, 10, 12, 14]
    assert _start_times(TokenBucket(capacity=1, rate=4), 4) == [0, 0.25, 0.5, 0.75]


def test_a_token_bucket_sleeps_once_per_waiter_for_exactly_the_computed_time(monkeypatch):
    """No polling: each waiter calls sleep once, with the time its token needs to drip in."""
    real_sleep, sleeps = asyncio.sleep, []

    async def recording_sleep(delay, *args, **kwargs):
        sleeps.append(round(delay, 9))
        return await real_sleep(delay, *args, **kwargs)

    bucket = TokenBucket(capacity=2, rate=2)
    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    assert _start_times(bucket, 5) == [0, 0, 0.5, 1.0, 1.5]
    assert sleeps == [0.5, 1.0, 1.5]


def test_an_idle_token_bucket_refills_only_up_to_its_capacity():
    async def main():
        loop = asyncio.get_running_loop()
        bucket = TokenBucket(capacity=3, rate=1)
        for _ in range(3):
            await bucket.acquire()             # empty at t=0
        await asyncio.sleep(100)               # 100 tokens' worth of time, but the bucket holds 3
        starts = []
        for _ in range(5):
            await bucket.acquire()
            starts.append(round(loop.time(), 9))
        return starts

    assert run_virtual(main()) == [100, 100, 100, 101, 102]


def test_a_cancelled_waiter_keeps_its_booking_so_the_limit_still_holds():
    async def main():
        loop = asyncio.get_running_loop()
        bucket = TokenBucket(capacity=1, rate=1)
        starts = []

        async def request(name):
            await bucket.acquire()
            starts.append((name, round(loop.time(), 9)))

        tasks = [asyncio.create_task(request(name)) for name in "ABC"]   # slots at 0, 1, 2
        await asyncio.sleep(0.5)
        tasks[1].cancel()                                                  # B gives up its slot at 1
        late = asyncio.create_task(request("D"))
        await asyncio.gather(*tasks, late, return_exceptions=True)
        return starts

    starts = run_virtual(main())
    assert starts == [("A", 0), ("C", 2), ("D", 3)]


@pytest.mark.parametrize("capacity", [0, -1, 1.5, True, "3", None])
def test_a_token_bucket_refuses_a_capacity_that_is_not_a_whole_number_of_at_least_one(capacity):
    with pytest.raises(ValueError, match="capacity must be a whole number of tokens >= 1"):
        TokenBucket(capacity=capacity, rate=1)


@pytest.mark.parametrize("rate", [0, -0.5, math.nan, math.inf, True, "1", None])
def test_a_token_bucket_refuses_a_rate_that_is_not_a_finite_positive_number(rate):
    with pytest.raises(ValueError, match="rate must be a finite number of tokens per second > 0"):
        TokenBucket(capacity=1, rate=rate)


def test_the_notebooks_token_bucket_snippet_is_the_librarys_code():
    """03 shows the heart of acquire() in a markdown cell; it must be the code that runs."""
    import inspect

    from course_lib import ratelimit

    markdown = "\n".join("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
                         if c["cell_type"] == "markdown")
    snippet = re.search(r"# TokenBucket\.acquire\(\) 的核心.*?\n(.*?)```", markdown, re.DOTALL).group(1)
    source = [line.split("#")[0].strip() for line in inspect.getsource(ratelimit).splitlines()]
    for line in snippet.splitlines():
        statement = line.split("#")[0].strip()
        assert statement in source, statement


# -------------------------------------------------------- semaphore vs rate limit

def test_a_semaphore_caps_requests_in_flight_but_not_requests_per_second():
    async def main():
        loop = asyncio.get_running_loop()
        slots, starts = asyncio.Semaphore(2), []

        async def request():
            async with slots:
                starts.append(loop.time())
                await asyncio.sleep(0.1)

        await asyncio.gather(*(request() for _ in range(20)))
        return starts

    starts = run_virtual(main())
    assert sum(1 for t in starts if t < 1.0) == 20   # 20 requests started within one second


def test_semaphore_then_token_bucket_caps_both_in_flight_and_rate():
    """03's table: Semaphore(2), TokenBucket(capacity=3, rate=1), requests of 0.3 s."""
    async def main():
        loop = asyncio.get_running_loop()
        slots, bucket, rows = asyncio.Semaphore(2), TokenBucket(capacity=3, rate=1), []

        async def request(name):
            async with slots:
                got_slot = loop.time()
                await bucket.acquire()
                start = loop.time()
                await asyncio.sleep(0.3)
                rows.append((name, round(got_slot, 9), round(start, 9), round(loop.time(), 9)))

        await asyncio.gather(*(request(f"r{i}") for i in range(1, 7)))
        return sorted(rows, key=lambda row: row[2])

    rows = run_virtual(main())
    assert rows == [("r1", 0, 0, 0.3), ("r2", 0, 0, 0.3), ("r3", 0.3, 0.3, 0.6),
                    ("r4", 0.3, 1.0, 1.3), ("r5", 0.6, 2.0, 2.3), ("r6", 1.3, 3.0, 3.3)]
    for _, _, start, _ in rows:                       # never more than 2 in flight
        assert sum(1 for _, _, s, e in rows if s <= start < e) <= 2


# ------------------------------------------------------------------- pipelines

def _batch(catch_inside_the_loop):
    """03's batch: 3 workers, 9 jobs, jobs 0, 3 and 6 fail; how far the batch gets."""
    async def main():
        queue = asyncio.Queue()
        for job in range(9):
            queue.put_nowait(job)
        done, failures = [], []

        async def worker():
            while True:
                job = await queue.get()
                try:
                    await asyncio.sleep(1)
                    if job % 3 == 0:
                        raise ConnectionError(f"job {job}")
                    done.append(job)
                except ConnectionError:
                    if not catch_inside_the_loop:
                        raise                  # the failure leaves the loop: this worker is gone
                    failures.append(job)
                finally:
                    queue.task_done()

        workers = [asyncio.create_task(worker()) for _ in range(3)]
        try:
            await asyncio.wait_for(queue.join(), timeout=60)
            finished = True
        except TimeoutError:
            finished = False
        for task in workers:
            task.cancel()
        outcomes = await asyncio.gather(*workers, return_exceptions=True)
        return finished, sorted(done), sorted(failures), [type(o).__name__ for o in outcomes]

    return run_virtual(main())


def test_a_failure_that_leaves_the_worker_loop_kills_the_worker_and_join_never_returns():
    finished, done, _, outcomes = _batch(catch_inside_the_loop=False)
    assert not finished                          # 60 virtual seconds for 3 s of work: it hangs
    assert len(done) < 6                         # jobs left in the queue with nobody to take them
    assert outcomes == ["ConnectionError"] * 3   # gather(return_exceptions=True) only stores why


def test_a_worker_that_catches_each_failure_inside_the_loop_finishes_the_batch_and_counts_them():
    finished, done, failures, outcomes = _batch(catch_inside_the_loop=True)
    assert finished
    assert (done, failures) == ([1, 2, 4, 5, 7, 8], [0, 3, 6])
    assert outcomes == ["CancelledError"] * 3    # stopped by us after join, not by an error


def test_a_bounded_queue_makes_put_wait_until_a_consumer_takes_an_item():
    async def main():
        loop = asyncio.get_running_loop()
        queue, waits, sizes = asyncio.Queue(maxsize=2), [], []

        async def slow_worker():
            while True:
                await queue.get()
                await asyncio.sleep(1.0)
                queue.task_done()

        consumer = asyncio.create_task(slow_worker())
        for i in range(1, 7):
            await asyncio.sleep(0.2)
            asked = loop.time()
            await queue.put(i)
            waits.append((round(loop.time(), 9), round(loop.time() - asked, 9)))
            sizes.append(queue.qsize())
        await queue.join()
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        return waits, sizes

    waits, sizes = run_virtual(main())
    assert waits == [(0.2, 0), (0.4, 0), (0.6, 0), (1.2, 0.4), (2.2, 0.8), (3.2, 0.8)]
    assert max(sizes) == 2


def test_an_unbounded_queue_never_makes_put_wait():
    async def main():
        queue = asyncio.Queue()
        for i in range(1000):
            await queue.put(i)
        return asyncio.get_running_loop().time(), queue.qsize()

    assert run_virtual(main()) == (0.0, 1000)


def test_join_returns_early_if_the_producer_is_still_putting():
    """Why 03 awaits the producer before queue.join()."""
    async def main():
        queue, handled = asyncio.Queue(), []

        async def worker():
            while True:
                handled.append(await queue.get())
                queue.task_done()

        async def producer():
            for i in range(3):
                await queue.put(i)
                await asyncio.sleep(1)

        workers = asyncio.create_task(worker())
        producing = asyncio.create_task(producer())
        await asyncio.sleep(0)
        await queue.join()                    # returns at t=0 with 2 items still to come
        early = (asyncio.get_running_loop().time(), list(handled), producing.done())
        await producing
        await queue.join()
        workers.cancel()
        await asyncio.gather(workers, return_exceptions=True)
        return early, handled

    early, handled = run_virtual(main())
    assert early == (0.0, [0], False)
    assert handled == [0, 1, 2]


def test_cancelled_workers_stop_only_when_awaited_and_then_no_task_is_left():
    async def main():
        queue = asyncio.Queue(maxsize=2)

        async def worker():
            while True:
                await queue.get()
                await asyncio.sleep(0.5)
                queue.task_done()

        workers = [asyncio.create_task(worker()) for _ in range(3)]
        for i in range(8):
            await queue.put(i)
        await queue.join()
        for task in workers:
            task.cancel()
        right_after_cancel = [task.done() for task in workers]
        await asyncio.gather(*workers, return_exceptions=True)
        after_gather = [task.cancelled() for task in workers]
        left = asyncio.all_tasks() - {asyncio.current_task()}
        return right_after_cancel, after_gather, left

    right_after_cancel, after_gather, left = run_virtual(main())
    assert right_after_cancel == [False, False, False]
    assert after_gather == [True, True, True]
    assert left == set()


def test_sentinels_let_workers_end_on_their_own_after_the_real_items():
    async def main():
        queue = asyncio.Queue(maxsize=2)

        async def worker():
            count = 0
            while True:
                item = await queue.get()
                if item is None:
                    return count
                await asyncio.sleep(0.5)
                count += 1

        workers = [asyncio.create_task(worker()) for _ in range(3)]
        for i in range(7):
            await queue.put(i)
        for _ in workers:
            await queue.put(None)             # one sentinel per worker
        counts = await asyncio.gather(*workers)
        return counts, [task.cancelled() for task in workers]

    counts, cancelled = run_virtual(main())
    assert sum(counts) == 7
    assert cancelled == [False, False, False]


QUESTIONS = [("问题 A", 1.5), ("问题 B", 0.4), ("问题 C", 2.0), ("问题 D", 0.9)]


async def _answer(question, seconds):
    await asyncio.sleep(seconds)
    return question


def test_as_completed_yields_in_completion_order_and_gather_all_at_once_in_submission_order():
    async def with_gather():
        answers = await asyncio.gather(*(_answer(q, s) for q, s in QUESTIONS))
        return asyncio.get_running_loop().time(), answers

    async def with_as_completed():
        loop, seen = asyncio.get_running_loop(), []
        for next_done in asyncio.as_completed([_answer(q, s) for q, s in QUESTIONS]):
            question = await next_done
            seen.append((loop.time(), question))
        return seen

    assert run_virtual(with_gather()) == (2.0, ["问题 A", "问题 B", "问题 C", "问题 D"])
    assert run_virtual(with_as_completed()) == [(0.4, "问题 B"), (0.9, "问题 D"), (1.5, "问题 A"),
                                                (2.0, "问题 C")]


def test_as_completed_hands_out_stand_ins_not_the_original_tasks():
    async def main():
        tasks = [asyncio.create_task(_answer(q, s)) for q, s in QUESTIONS]
        return [(next_done in tasks, await next_done) for next_done in asyncio.as_completed(tasks)]

    assert run_virtual(main()) == [(False, "问题 B"), (False, "问题 D"), (False, "问题 A"), (False, "问题 C")]


# -------------------------------------------------------------- hedged requests

def _model(name, seconds, log):
    async def call():
        loop = asyncio.get_running_loop()
        log.append(("开始", name, round(loop.time(), 9)))
        try:
            await asyncio.sleep(seconds)
            return f"{name}的回答"
        except asyncio.CancelledError:
            log.append(("取消", name, round(loop.time(), 9)))
            raise
        finally:
            log.append(("收尾", name, round(loop.time(), 9)))
    return call


async def _keep_first(tasks):
    """03's keep_first."""
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return done.pop().result()


def test_a_hedged_request_returns_the_faster_answer_and_the_slower_is_cancelled_with_its_finally_run():
    async def main():
        log = []
        slow = asyncio.create_task(_model("A", 2.0, log)())
        fast = asyncio.create_task(_model("B", 0.8, log)())
        answer = await _keep_first([slow, fast])
        return answer, asyncio.get_running_loop().time(), list(log), slow.cancelled()

    answer, when, log, slow_cancelled = run_virtual(main())
    assert (answer, when, slow_cancelled) == ("B的回答", 0.8, True)
    assert log == [("开始", "A", 0), ("开始", "B", 0), ("收尾", "B", 0.8),
                   ("取消", "A", 0.8), ("收尾", "A", 0.8)]


def test_wait_with_a_timeout_returns_without_cancelling_but_wait_for_cancels():
    async def main():
        task = asyncio.create_task(asyncio.sleep(2.0, result="done"))
        done, pending = await asyncio.wait({task}, timeout=0.5)
        still_running = (done, pending == {task}, task.cancelled())
        result = await task                     # it finishes later, untouched
        other = asyncio.create_task(asyncio.sleep(2.0))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(other, timeout=0.5)
        return still_running, result, other.cancelled()

    still_running, result, other_cancelled = run_virtual(main())
    assert still_running == (set(), True, False)
    assert result == "done" and other_cancelled


async def _hedged_after(delay, primary, backup):
    """03's reference answer for 动手练习 4b."""
    first = asyncio.create_task(primary())
    done, _ = await asyncio.wait({first}, timeout=delay)
    if done:
        return first.result()
    second = asyncio.create_task(backup())
    return await _keep_first([first, second])


@pytest.mark.parametrize("primary_seconds, answer, end, events", [
    (0.3, "主模型的回答", 0.3, [("开始", "主模型", 0), ("收尾", "主模型", 0.3)]),
    (2.0, "备用模型的回答", 1.3, [("开始", "主模型", 0), ("开始", "备用模型", 0.5),
                            ("收尾", "备用模型", 1.3), ("取消", "主模型", 1.3), ("收尾", "主模型", 1.3)]),
])
def test_a_delayed_hedge_sends_the_backup_only_when_the_primary_is_slow(primary_seconds, answer, end,
                                                                        events):
    async def main():
        log = []
        got = await _hedged_after(0.5, _model("主模型", primary_seconds, log), _model("备用模型", 0.8, log))
        return got, round(asyncio.get_running_loop().time(), 9), log

    assert run_virtual(main()) == (answer, end, events)
