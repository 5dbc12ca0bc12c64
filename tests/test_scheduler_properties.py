"""Hypothesis properties of SmartScheduler on random DAGs, on the virtual clock.

Every example builds a random DAG of tasks (random priorities, durations,
failures, timeouts and retries), runs it with `run_virtual` and checks the
rules against ``scheduler.event_log`` alone:

* every task ends in exactly one terminal state (one terminal event each);
* no task starts before all of its dependencies have completed;
* never more than ``max_workers`` attempts run at once;
* ready tasks start in priority order (then add order), and a ready task
  never waits while a worker slot is free.

Some tasks are added while `run` is in progress, at set virtual times.

Durations are multiples of 0.25 s and timeouts are k/8 s with k odd, so an
attempt never ends at the very instant its timeout fires: every outcome is
determined, and can be predicted by a small model.
"""

import asyncio
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_lib import SmartScheduler, Task, TaskStatus, run_virtual

PENDING, WAITING, RUNNING = TaskStatus.PENDING, TaskStatus.WAITING, TaskStatus.RUNNING
COMPLETED, FAILED = TaskStatus.COMPLETED, TaskStatus.FAILED
TIMEOUT, CANCELLED = TaskStatus.TIMEOUT, TaskStatus.CANCELLED
TERMINAL = {COMPLETED, FAILED, TIMEOUT, CANCELLED}


@dataclass(frozen=True)
class Spec:
    index: int
    deps: tuple  # indices of earlier tasks
    deps_as_list: bool
    priority: int
    duration: float  # seconds per attempt
    failures: int  # the first `failures` attempts raise (after sleeping)
    timeout: object  # None or seconds (k/8 with k odd)
    max_retries: int
    retry_delay: float
    retry_on_timeout: bool
    add_at: object = None  # None: added before run(); else the virtual time of add_task

    @property
    def id(self):
        return f"t{self.index:02d}"

    def outcome(self, attempt):
        """What attempt number *attempt* does, by the model."""
        if self.timeout is not None and self.duration > self.timeout:
            return TIMEOUT
        return FAILED if attempt <= self.failures else COMPLETED

    def expected(self):
        """(final status, number of attempts) if no dependency lets it down."""
        attempt = 1
        while True:
            outcome = self.outcome(attempt)
            if outcome is COMPLETED or attempt > self.max_retries:
                return outcome, attempt
            if outcome is TIMEOUT and not self.retry_on_timeout:
                return outcome, attempt
            attempt += 1


class Behaviour:
    """The task's callable: sleep, then fail for the first `failures` attempts."""

    def __init__(self, spec):
        self.spec = spec
        self.calls = 0

    async def __call__(self, *dep_results):
        self.calls += 1
        assert len(dep_results) == len(self.spec.deps)
        await asyncio.sleep(self.spec.duration)
        if self.calls <= self.spec.failures:
            raise RuntimeError(f"{self.spec.id} attempt {self.calls} failed")
        return self.spec.id


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 14))
    specs = []
    for i in range(n):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=3)) if i else set()
        specs.append(Spec(
            index=i,
            deps=tuple(sorted(deps, reverse=draw(st.booleans()))),
            deps_as_list=draw(st.booleans()),
            priority=draw(st.integers(0, 3)),
            duration=draw(st.integers(0, 12)) / 4,
            failures=draw(st.sampled_from([0, 0, 0, 1, 2, 9])),
            timeout=draw(st.sampled_from([None, 30.0, 0.625, 1.125, 2.375])),
            max_retries=draw(st.integers(0, 3)),
            retry_delay=draw(st.sampled_from([0.0, 0.25, 0.5, 1.0])),
            retry_on_timeout=draw(st.booleans()),
            # A task is added at or after its dependencies.
            add_at=_latest([draw(st.sampled_from([None, None, None, 0.0, 0.25, 0.8125, 2.0])),
                            *(specs[d].add_at for d in deps)]),
        ))
    add_order = draw(st.permutations(range(n)))
    workers = draw(st.integers(1, 4))
    return specs, add_order, workers


def _latest(times):
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _task(spec, specs):
    dep_ids = [specs[d].id for d in spec.deps]
    return Task(
        id=spec.id, func=Behaviour(spec), priority=spec.priority,
        dependencies=dep_ids if spec.deps_as_list else set(dep_ids),
        timeout=spec.timeout, max_retries=spec.max_retries,
        retry_delay=spec.retry_delay, retry_on_timeout=spec.retry_on_timeout,
    )


# Added before run() and running longer than the last mid-run add, so run()
# is still in progress when the feeder adds its tasks.  Lowest priority, so it
# mostly waits like the rest.
ANCHOR = Spec(index=99, deps=(), deps_as_list=False, priority=9, duration=50.0, failures=0,
              timeout=None, max_retries=0, retry_delay=0.0, retry_on_timeout=True)


def run_scenario(specs, add_order, workers):
    mid_run = sorted((s for s in specs if s.add_at is not None), key=lambda s: (s.add_at, s.index))

    async def feeder(scheduler):
        loop = asyncio.get_running_loop()
        for spec in mid_run:
            await asyncio.sleep(spec.add_at - loop.time())
            await scheduler.add_task(_task(spec, specs))

    async def main():
        scheduler = SmartScheduler(max_workers=workers)
        for i in add_order:
            if specs[i].add_at is None:
                await scheduler.add_task(_task(specs[i], specs))
        if mid_run:
            await scheduler.add_task(_task(ANCHOR, specs))
        await asyncio.gather(scheduler.run(), feeder(scheduler))
        return scheduler

    return run_virtual(main(), stall_timeout=5.0)


PROPERTY_SETTINGS = settings(max_examples=60, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- checks

def with_anchor(scheduler, specs):
    return specs + [ANCHOR] if ANCHOR.id in scheduler.tasks else specs


def check_one_terminal_state_each(scheduler, specs):
    log = scheduler.event_log
    assert set(scheduler.tasks) == {s.id for s in specs}
    for spec in specs:
        events = [e for e in log if e.task_id == spec.id]
        terminal = [e for e in events if e.new in TERMINAL]
        assert len(terminal) == 1, (spec.id, events)
        assert events[-1] is terminal[0]
        assert events[0].old is None
        for before, after in zip(events, events[1:]):
            assert after.old is before.new  # a continuous story per task
        assert scheduler.tasks[spec.id].status is terminal[0].new


def check_dependencies_complete_before_start(scheduler, specs):
    log = scheduler.event_log
    by_id = {s.id: s for s in specs}
    completed_at = {e.task_id: i for i, e in enumerate(log) if e.new is COMPLETED}
    ended = {e.task_id: e.new for e in log if e.new in TERMINAL}
    for i, e in enumerate(log):
        if e.new is RUNNING:
            spec = by_id[e.task_id]
            for d in spec.deps:
                dep = specs[d].id
                assert dep in completed_at and completed_at[dep] < i, (e.task_id, dep)
                assert log[completed_at[dep]].time <= e.time
    # And a task whose dependency did not complete is cancelled, never run.
    for spec in specs:
        let_down = [specs[d].id for d in spec.deps if ended[specs[d].id] is not COMPLETED]
        task = scheduler.tasks[spec.id]
        if let_down:
            assert task.status is CANCELLED and task.attempts == []
            assert task.error.upstream in let_down
            assert spec.id not in {e.task_id for e in log if e.new is RUNNING}


def check_outcomes_follow_the_model(scheduler, specs):
    for spec in specs:
        task = scheduler.tasks[spec.id]
        if task.status is CANCELLED:
            continue  # checked above: a dependency let it down
        status, attempts = spec.expected()
        assert (task.status, len(task.attempts)) == (status, attempts), spec
        assert task.retries == attempts - 1
        assert [a.outcome for a in task.attempts] == [spec.outcome(k)
                                                      for k in range(1, attempts + 1)]
        for k, (before, after) in enumerate(zip(task.attempts, task.attempts[1:]), start=1):
            assert before.backoff == spec.retry_delay * 2 ** (k - 1)
            assert after.start >= before.end + before.backoff
        for a in task.attempts:
            expected = spec.duration if a.outcome is not TIMEOUT else spec.timeout
            assert a.end - a.start == expected


def check_worker_limit(scheduler, workers):
    running = {}
    for e in scheduler.event_log:
        if e.new is RUNNING:
            assert e.slot is not None and 0 <= e.slot < workers
            assert e.slot not in running.values()  # one attempt per slot
            running[e.task_id] = e.slot
        elif e.old is RUNNING:
            assert running.pop(e.task_id) == e.slot
        assert len(running) <= workers


def check_priority_order(scheduler):
    """Replay the log; at each start, no better ready task may still be waiting.

    A task is *ready* once it is PENDING (after its add event or a
    WAITING -> PENDING event), or, after a failed attempt, once its backoff
    has expired (``retry_at`` strictly before now: at the very instant of
    ``retry_at`` the re-queue may come a moment after another start).
    """
    rank = {}  # task_id -> (priority, add order)
    status, retry_at = {}, {}
    for e in scheduler.event_log:
        if e.old is None:
            rank[e.task_id] = (e.priority, len(rank))
        if e.new is RUNNING:
            t, key = e.time, rank[e.task_id]
            for other, st in status.items():
                if other == e.task_id or st is not PENDING:
                    continue
                at = retry_at.get(other)
                if at is not None and at >= t:
                    continue  # still backing off
                assert not rank[other] < key, (
                    f"{e.task_id} {key} started at t={t} while {other} {rank[other]} was ready")
        status[e.task_id] = e.new
        if e.new is PENDING:
            retry_at[e.task_id] = e.retry_at


def check_work_conserving(scheduler, workers):
    """A ready task never waits while a worker slot stays free."""
    log = scheduler.event_log
    # running count in force after all events at each distinct time
    times, counts, running = [], [], 0
    for e in log:
        if e.new is RUNNING:
            running += 1
        elif e.old is RUNNING:
            running -= 1
        if times and times[-1] == e.time:
            counts[-1] = running
        else:
            times.append(e.time)
            counts.append(running)

    def count_at(u):  # running count in force at time u (after all events at u)
        n = 0
        for t, c in zip(times, counts):
            if t > u:
                break
            n = c
        return n

    ready_since = {}
    for e in log:
        if e.new is PENDING:  # added, unblocked or backing off (then ready at retry_at)
            ready_since[e.task_id] = e.time if e.retry_at is None else e.retry_at
        elif e.new is WAITING:
            ready_since.pop(e.task_id, None)
        elif e.new is RUNNING:
            since = ready_since.pop(e.task_id)
            if e.time > since:
                checkpoints = [since] + [t for t in times if since < t < e.time]
                for u in checkpoints:
                    assert count_at(u) == workers, (
                        f"{e.task_id} ready at {since} but started at {e.time} "
                        f"while only {count_at(u)}/{workers} slots were busy at t={u}")


# ---------------------------------------------------------------- properties

@PROPERTY_SETTINGS
@given(scenarios())
def test_random_dags_obey_every_scheduling_rule(scenario):
    specs, add_order, workers = scenario
    scheduler = run_scenario(specs, add_order, workers)
    specs = with_anchor(scheduler, specs)
    check_one_terminal_state_each(scheduler, specs)
    check_dependencies_complete_before_start(scheduler, specs)
    check_outcomes_follow_the_model(scheduler, specs)
    check_worker_limit(scheduler, workers)
    check_priority_order(scheduler)
    check_work_conserving(scheduler, workers)
    stats = scheduler.get_stats()
    assert stats["running"] == stats["queued"] == 0 and scheduler.progress == 1.0
    assert sum(stats["status"].values()) == stats["total"] == len(specs)
    for spec in specs:  # mid-run additions were added when the scenario said
        add = next(e for e in scheduler.event_log if e.task_id == spec.id)
        assert add.time == (spec.add_at or 0.0)


@PROPERTY_SETTINGS
@given(scenarios())
def test_runs_are_deterministic_on_the_virtual_clock(scenario):
    specs, add_order, workers = scenario
    first = run_scenario(specs, add_order, workers).event_log
    second = run_scenario(specs, add_order, workers).event_log
    strip = [(e.time, e.task_id, e.old, e.new, e.attempt, e.slot, e.retry_at, e.outcome)
             for e in first]
    assert strip == [(e.time, e.task_id, e.old, e.new, e.attempt, e.slot, e.retry_at, e.outcome)
                     for e in second]
