"""Agents in worker processes, a coordinator on Redis, and chaos: against a real redis-server.

No mocks: each test starts a private redis-server (`local_redis`), real
worker processes (`LocalCluster`, i.e. ``python -m course_lib.agents worker``)
and, where the coordinator must die, a coordinator process.  Waits are on
events (a coordinator event, a line from a process) and bounded; nothing
asserts how long anything took.  Without a redis-server binary these tests
skip outside CI and fail under CI=true.
"""

import asyncio
import json
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from course_lib.agents import Coordinator, EventKind, LocalCluster, TaskState, local_redis
from course_lib.agents import redis_local

pytestmark = pytest.mark.skipif(
    redis_local.find_redis_server() is None and os.environ.get("CI") != "true",
    reason="no redis-server (Debian/Ubuntu: sudo apt-get install redis-server)")

ROOT = Path(__file__).resolve().parent.parent
SLEEPER = "tests.workers.agents:Sleeper"
SQUARER = "tests.workers.agents:Squarer"
HANG = 60  # seconds: a bound for a hang, never a measure


@pytest.fixture(scope="module")
def redis_url():
    with local_redis() as url:
        yield url


@pytest.fixture
def namespace():
    return f"t{uuid.uuid4().hex[:8]}"


def redis_bus(url, namespace):
    from course_lib.agents import RedisBus

    return RedisBus(url, namespace=namespace)


async def next_event(coordinator, matches):
    """The next event for which ``matches(event)`` is true (a future set by a subscriber)."""
    found = asyncio.get_running_loop().create_future()

    def look(event):
        if not found.done() and matches(event):
            found.set_result(event)

    unsubscribe = coordinator.subscribe(look)
    try:
        async with asyncio.timeout(HANG):
            return await found
    finally:
        unsubscribe()


def registered(agent_id):
    return lambda e: e.kind is EventKind.AGENT and e.agent_id == agent_id and e.new == "idle"


@pytest.mark.asyncio
async def test_a_worker_process_runs_tasks_and_leaves_cleanly_on_sigterm(redis_url, namespace):
    bus = redis_bus(redis_url, namespace)
    with LocalCluster(redis_url, namespace, grace=5, cwd=str(ROOT)) as cluster:
        async with Coordinator(bus=bus, heartbeat_interval=0.2, heartbeat_timeout=1.0) as c:
            joined = asyncio.ensure_future(next_event(c, registered("w1")))
            cluster.start(SLEEPER, "w1", capacity=2)
            await joined
            ids = [await c.assign_task({"type": "search", "seconds": 0.05}) for _ in range(4)]
            assert await c.gather(ids) == ["w1"] * 4
            # SIGTERM with a task sent: the worker finishes it within --grace (or, if
            # the signal came first, hands it back with its goodbye), then exits 0.
            running = await c.assign_task({"type": "search", "seconds": 0.5})
            assert c.tasks[running].state is TaskState.RUNNING
            left = asyncio.ensure_future(next_event(
                c, lambda e: e.kind is EventKind.AGENT and e.new == "offline"))
            status = await asyncio.to_thread(cluster.stop, "w1")
            offline = await left
            cluster.start(SLEEPER, "w2")
            assert await c.result(running) in ("w1", "w2")
            assert len([e for e in c.event_log if e.task_id == running
                        and e.new is TaskState.COMPLETED]) == 1
            assert status == 0 and offline.reason == "said goodbye"
        log = cluster.log("w1").read_text(encoding="utf-8")
    await bus.aclose()
    assert "w1 已启动" in log and "w1 已停止" in log and "Traceback" not in log


@pytest.mark.asyncio
async def test_a_killed_worker_s_task_is_finished_by_another_and_a_restart_rejoins(
        redis_url, namespace):
    bus = redis_bus(redis_url, namespace)
    with LocalCluster(redis_url, namespace, cwd=str(ROOT)) as cluster:
        async with Coordinator(bus=bus, heartbeat_interval=0.2, heartbeat_timeout=1.0) as c:
            joined = asyncio.ensure_future(next_event(c, registered("w1")))
            cluster.start(SLEEPER, "w1")
            await joined
            task_id = await c.assign_task({"type": "search", "seconds": 3})
            assert c.tasks[task_id].agent == "w1"
            cluster.kill("w1")  # mid-task, no goodbye
            joined = asyncio.ensure_future(next_event(c, registered("w2")))
            cluster.start(SLEEPER, "w2")
            await joined
            assert await c.result(task_id) == "w2"
            moved = [e for e in c.event_log if e.task_id == task_id and e.new is TaskState.RUNNING]
            assert [(e.agent_id, e.from_agent) for e in moved] == [("w1", None), ("w2", "w1")]
            # The same id started again is a new run of w1: it registers and works.
            back = asyncio.ensure_future(next_event(
                c, lambda e: e.kind is EventKind.HEARTBEAT and e.agent_id == "w1"
                and c.agents["w1"].status != "offline"))
            cluster.start(SLEEPER, "w1")
            await back
            pinned = await c.assign_task({"type": "search", "seconds": 0.01}, agent="w1")
            assert await c.result(pinned) == "w1"
    await bus.aclose()


@pytest.mark.asyncio
async def test_a_restarted_coordinator_resumes_unfinished_tasks_and_keeps_finished_results(
        redis_url, namespace):
    # A coordinator process submits 20 tasks while no worker exists, then dies (SIGKILL).
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.workers.coordinator", redis_url, namespace, "20", "7"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(first.stdout.readline), HANG)
        assert line.strip() == "submitted 20", (line, first.stderr.read())
    finally:
        first.kill()
        first.wait()
        first.stdout.close()
        first.stderr.close()
    bus = redis_bus(redis_url, namespace)
    with LocalCluster(redis_url, namespace, cwd=str(ROOT)) as cluster:
        async with Coordinator(bus=bus, heartbeat_interval=0.2, heartbeat_timeout=1.0) as c:
            resumed = [e.task_id for e in c.event_log
                       if e.reason == "resumed after a coordinator restart"]
            assert resumed == [f"chaos-{i}" for i in range(20)]  # in their old order
            for n in range(2):
                cluster.start(SQUARER, f"sq{n}")
            assert await c.gather(resumed) == [i * i for i in range(20)]
        # Another restart: every result is still there, and nothing is resumed.
        async with Coordinator(bus=bus) as again:
            assert await again.result("chaos-5") == 25 and again.get_stats()["queued"] == 0
    await bus.aclose()


def test_the_worker_command_line_fails_with_one_clear_line(redis_url):
    def worker(*args):
        return subprocess.run([sys.executable, "-m", "course_lib.agents", "worker", *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=HANG)

    bad_agent = worker("--redis", redis_url, "--agent", "NoSuchAgent", "--id", "x")
    assert bad_agent.returncode == 2 and "NoSuchAgent" in bad_agent.stderr
    with local_redis(password="s3cret") as guarded:
        wrong = guarded.replace("s3cret", "wrong")
        refused = worker("--redis", wrong, "--agent", "SearchAgent", "--id", "x")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "refused" in refused.stderr and "wrong" not in refused.stderr  # password masked


def test_chaos_killing_workers_and_the_coordinator_loses_and_repeats_nothing(redis_url, namespace):
    """3 workers, 500 tasks of 10-50 ms.  Every 0.3 s a seeded schedule SIGKILLs a
    random worker and starts it again; once, it SIGKILLs the coordinator process
    and starts it again.  Every task ends with exactly one recorded result, and
    it is right."""
    rng = random.Random(14)
    n = 500
    command = [sys.executable, "-m", "tests.workers.coordinator", redis_url, namespace, str(n), "14"]
    workers = ["w0", "w1", "w2"]
    kills = coordinator_kills = ticks = 0
    with LocalCluster(redis_url, namespace, grace=1, cwd=str(ROOT)) as cluster:
        for agent_id in workers:
            cluster.start(SQUARER, agent_id)
        coordinator = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
        try:
            while True:
                try:  # the schedule's tick: wake when the coordinator ends, or after 0.3 s
                    coordinator.wait(0.3)
                    break
                except subprocess.TimeoutExpired:
                    pass
                ticks += 1
                assert ticks < 600, "the chaos run did not end within 600 ticks"
                victim = rng.choice(workers)
                cluster.kill(victim)
                cluster.start(SQUARER, victim)
                kills += 1
                if ticks == 8:  # once, early: the coordinator dies mid-run
                    coordinator.kill()
                    coordinator.wait()
                    coordinator.stdout.close()
                    coordinator.stderr.close()
                    coordinator_kills += 1
                    coordinator = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                                   stderr=subprocess.PIPE, text=True)
            out, err = coordinator.communicate()
        finally:
            if coordinator.poll() is None:
                coordinator.kill()
                coordinator.communicate()
    assert coordinator.returncode == 0, err
    report = json.loads(out.splitlines()[-1])
    assert report["results"] == {f"chaos-{i}": i * i for i in range(n)}
    recorded, again = asyncio.run(_recorded(redis_url, namespace))
    assert {task_id: outcome["result"] for task_id, outcome in recorded.items()} == \
        {f"chaos-{i}": i * i for i in range(n)}
    assert all(o["state"] == "completed" for o in recorded.values()) and again == 0
    assert coordinator_kills == 1 and kills >= 8 and report["resumed"] > 0
    print(f"\nchaos: {n} tasks, {kills} worker kills, {coordinator_kills} coordinator kill, "
          f"{report['resumed']} tasks resumed, {report['reassigned']} reassignments after "
          f"the restart, {report['ignored']} late or duplicate messages ignored")


async def _recorded(url, namespace):
    bus = redis_bus(url, namespace)
    try:
        store = bus.task_store("coordinator")
        return await store.recorded(), await store.recorded_again()
    finally:
        await bus.aclose()


@pytest.mark.asyncio
async def test_a_worker_started_before_the_first_coordinator_registers_when_it_comes(
        redis_url, namespace):
    with LocalCluster(redis_url, namespace, cwd=str(ROOT)) as cluster:
        cluster.start(SLEEPER, "early")
        # It registers whether its REGISTER lands before or after the coordinator starts.
        bus = redis_bus(redis_url, namespace)
        async with Coordinator(bus=bus, heartbeat_interval=0.2, heartbeat_timeout=1.0) as c:
            online = await c.wait_for_agents(1, timeout=HANG)
            assert [info.id for info in online] == ["early"]
        await bus.aclose()

