"""GroupCommit: callers that come while a round is under way share the next round."""

import asyncio

import pytest

from course_lib import run_virtual
from course_lib.agents.groupcommit import GroupCommit


class Log:
    """An owner of queued work: each round writes down what was queued, taking a second."""

    def __init__(self, fail_on=()):
        self.queued, self.rounds, self.fail_on = [], [], set(fail_on)
        self.writers = []  # the task that ran each round
        self.commits = GroupCommit(self.write, name="log")

    async def write(self):
        batch, self.queued = self.queued, []
        self.writers.append(asyncio.current_task())
        try:
            await asyncio.sleep(1)
            if self.fail_on & set(batch):
                raise OSError(f"cannot write {sorted(batch)}")
        except BaseException:
            self.queued[:0] = batch  # put back, as the coordinator does
            raise
        self.rounds.append(batch)

    async def add(self, item):
        self.queued.append(item)
        await self.commits.commit()
        return asyncio.get_running_loop().time()


def test_callers_that_come_during_a_round_share_the_next_one():
    async def main():
        log = Log()
        first = asyncio.create_task(log.add(0))
        await asyncio.sleep(0.5)  # virtual: the first round is under way
        done = await asyncio.gather(first, *(log.add(i) for i in range(1, 50)))
        return log.rounds, done

    rounds, done = run_virtual(main())
    assert rounds == [[0], list(range(1, 50))]
    assert done == [1.0] + [2.0] * 49  # each returns when the round with its work has ended


def test_with_no_round_under_way_the_caller_runs_it_in_its_own_task():
    async def main():
        log = Log()
        await log.add("alone")
        return log.writers == [asyncio.current_task()], log.rounds

    assert run_virtual(main()) == (True, [["alone"]])


def test_an_error_reaches_the_callers_of_its_round_and_the_next_round_tries_again():
    async def main():
        log = Log(fail_on={"bad"})
        first = asyncio.create_task(log.add("bad"))
        await asyncio.sleep(0.5)
        second = asyncio.create_task(log.add("ok"))
        await asyncio.sleep(2)  # the second round (with "bad" put back) fails too
        log.fail_on.clear()
        outcomes = await asyncio.gather(first, second, return_exceptions=True)
        await log.add("later")
        return [type(o).__name__ for o in outcomes], log.rounds

    outcomes, rounds = run_virtual(main())
    assert outcomes == ["OSError", "OSError"]
    assert rounds == [["bad", "ok", "later"]]  # what failed went out with the next round


def test_a_cancelled_caller_does_not_cancel_the_round_others_share():
    async def main():
        log = Log()
        first = asyncio.create_task(log.add("a"))
        await asyncio.sleep(0.5)  # "a" is being written
        leaving = asyncio.create_task(log.add("b"))
        staying = asyncio.create_task(log.add("c"))
        await asyncio.sleep(0)
        leaving.cancel()
        await asyncio.gather(first, staying)
        with pytest.raises(asyncio.CancelledError):
            await leaving
        return log.rounds

    assert run_virtual(main()) == [["a"], ["b", "c"]]


def test_a_cancelled_caller_running_a_round_leaves_its_work_to_the_next():
    async def main():
        log = Log()
        leaving = asyncio.create_task(log.add("a"))
        await asyncio.sleep(0.5)
        staying = asyncio.create_task(log.add("b"))
        await asyncio.sleep(0)
        leaving.cancel()
        await staying
        return log.rounds

    assert run_virtual(main()) == [["a", "b"]]


def test_a_group_commit_left_behind_by_a_closed_loop_works_in_the_next():
    log = Log()

    async def abandon():
        asyncio.create_task(log.add("lost with its loop"))
        await asyncio.sleep(0)  # the round starts, then the loop ends under it

    loop = asyncio.new_event_loop()
    loop.run_until_complete(abandon())
    loop.close()  # without cancelling its tasks: the round is never finished there
    assert run_virtual(asyncio.wait_for(log.add("next"), 10)) == 1.0  # not a hang
