"""Agents in worker processes over Redis: throughput against arq and a bare loop, and failover.

    python bench/bench_redis.py            # full size (two to three minutes)
    python bench/bench_redis.py --quick    # small, for a smoke test (about 15 s)

Everything runs on one private redis-server (`local_redis`), started once;
each measurement has its own namespace, streams and arq queue, and deletes
its own keys afterwards (untimed); nothing is flushed.

Throughput: N no-op tasks through K = 1, 4 and 8 worker processes, timed from
the first submission until every result is in, best of R interleaved rounds
(the three contenders take turns, in a rotating order, so that they share
the same spells of machine noise).  Every worker process is started, and
has said it is ready, before the clock starts.

* course_lib: a `Coordinator` on a `RedisBus` in this process, and K
  ``python -m course_lib.agents worker`` processes (`LocalCluster`) running
  `redis_peers.NoopAgent` with ``--capacity CAPACITY``.  The coordinator is as a user
  gets it: durable task records in Redis (saved before ``assign_task``
  returns), events recorded, heartbeats every second.  Timed: N
  ``assign_task`` calls, up to ENQUEUE_CONCURRENCY at a time (as arq's
  are), then ``gather``.  Calls that come while the coordinator saves
  share its next save (one round trip for all of them).
* arq: K arq worker processes (`redis_peers.arq_worker`, i.e. arq's
  ``run_worker``) with ``max_jobs=CAPACITY`` and ``poll_delay=ARQ_POLL_DELAY``,
  a no-op ``async def noop(ctx)`` job.  Timed: N ``enqueue_job`` calls, up
  to ENQUEUE_CONCURRENCY at a time (its own pool, as an arq user would
  ``gather`` them), then waiting until its queue is empty (one ZCARD every
  RESULT_POLL seconds: a worker removes a job from the queue in the
  transaction that writes its result; `Job.result` would poll each job's
  result key in turn).  Untimed, every result key is checked, then deleted.
* bare loop, the floor: K processes (`redis_peers.bare_consumer`, sync
  redis-py) in one consumer group on a request stream.  Per task: the
  producer XADDs the request (pipelined, PIPELINE per round trip); a consumer
  gets it with XREADGROUP (COUNT 100, as RedisBus reads), XADDs a result to
  the results stream and XACKs and XDELs the request (one pipeline per
  page); the producer reads the result with XREADGROUP (COUNT 100) and
  XACKs and XDELs it.  That is the message traffic of one course_lib task
  (a request, a result, both acknowledged and removed), with nothing else:
  no heartbeats, no task records, no per-task bookkeeping.

CAPACITY (100, ``--capacity`` to change it): course_lib's ``--capacity`` and
arq's ``max_jobs`` are the same number, so a worker holds as many tasks at
once in both; 100 is RedisBus's read COUNT, enough to keep the pipe full.
(Measured at K = 1, 4, 8: course_lib is about the same or faster at 100 than
at 10; arq is within noise of its own best either way, and at 1 both fall,
arq to under 100 tasks/s.)  ARQ_POLL_DELAY is 0.01 s: arq's default, 0.5 s,
costs it up to 4x here with max_jobs=10.  Targets: course_lib >= 2x arq and
>= 1/3 of the bare loop, at every K.

Failover: a coordinator with heartbeat_interval=0.5 and heartbeat_timeout=1.5,
worker processes running `redis_peers.SleepyAgent` (a 60 s task).  One task
is assigned; at a seeded random fraction of a heartbeat interval after a
heartbeat of the worker that runs it, that worker is SIGKILLed, and the time
is measured from the kill until the coordinator's event that the task runs
again (attempt 2) on another worker.  A fresh worker (a new id: a restart
under the same id would move the task at once, which is not what is
measured) joins before the next kill.  Bound: heartbeat_timeout +
heartbeat_interval.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from arq.connections import RedisSettings, create_pool
from arq.constants import result_key_prefix

from course_lib.agents import Coordinator, EventKind, LocalCluster, TaskState, local_redis
from course_lib.agents.redis_bus import RedisBus

HERE = Path(__file__).resolve().parent
PEERS = HERE / "redis_peers.py"
NOOP, SLEEPY = "redis_peers:NoopAgent", "redis_peers:SleepyAgent"

WORKER_COUNTS = (1, 4, 8)
CAPACITY = 100             # per worker: course_lib --capacity = arq max_jobs = RedisBus read COUNT
ARQ_POLL_DELAY = 0.01      # seconds between an arq worker's looks at its queue
ENQUEUE_CONCURRENCY = 50   # enqueue_job calls in flight at once
RESULT_POLL = 0.002        # seconds between looks at the arq queue (ZCARD)
READ_COUNT = 100           # XREADGROUP COUNT of the bare loop (RedisBus's default)
PIPELINE = 500             # requests per round trip in the bare producer
HEARTBEAT = (0.5, 1.5)     # failover: heartbeat_interval, heartbeat_timeout
SEED = 7
START_TIMEOUT = 60         # seconds for worker processes to come up: a bound for a hang


# ------------------------------------------------------------------ processes

class Peers:
    """Peer processes (arq workers, bare consumers) that print "ready" once connected;
    all of them are stopped on exit (SIGTERM, then SIGKILL)."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []
        self._logs = tempfile.TemporaryDirectory(prefix="bench-redis-peers-")

    def start(self, *args: str) -> None:
        log = open(Path(self._logs.name) / f"{len(self.processes)}.log", "wb")
        with log:
            self.processes.append(subprocess.Popen(
                [sys.executable, str(PEERS), *args], cwd=HERE, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=log))

    def wait_ready(self) -> None:
        """Block until every process has printed "ready" (a thread reads each one)."""
        for process in self.processes:
            line: list[bytes] = []
            reader = threading.Thread(target=lambda: line.append(process.stdout.readline()),
                                      daemon=True)
            reader.start()
            reader.join(START_TIMEOUT)
            if not line or line[0].strip() != b"ready":
                raise RuntimeError(f"a peer process did not start: {self.log_tail()}")

    def log_tail(self) -> str:
        texts = [p.read_text(errors="replace") for p in sorted(Path(self._logs.name).iterdir())]
        return "\n".join(t for t in texts if t)[-2000:] or "(no output)"

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()
        self._logs.cleanup()

    def __enter__(self) -> Peers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def delete_matching(client: aioredis.Redis, pattern: str) -> None:
    """Delete this measurement's own keys (untimed), never anyone else's."""
    keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
    for start in range(0, len(keys), 1000):
        await client.delete(*keys[start:start + 1000])


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------ contenders

async def run_course_lib(url: str, workers: int, n: int, capacity: int) -> float:
    """Seconds for N no-op tasks through the coordinator and *workers* worker processes."""
    namespace = fresh("cl")
    bus = RedisBus(url, namespace=namespace)
    try:
        with LocalCluster(url, namespace, grace=2, cwd=str(HERE)) as cluster:
            async with Coordinator(bus=bus) as coordinator:
                for i in range(workers):
                    cluster.start(NOOP, f"noop-{i}", capacity=capacity)
                await coordinator.wait_for_agents(workers, timeout=START_TIMEOUT)
                gate = asyncio.Semaphore(ENQUEUE_CONCURRENCY)

                async def assign() -> str:
                    async with gate:
                        return await coordinator.assign_task({"type": "search"})

                gc.collect()
                started = time.perf_counter()
                ids = await asyncio.gather(*(assign() for _ in range(n)))
                await coordinator.gather(ids)
                elapsed = time.perf_counter() - started
                assert coordinator.get_stats()["completed"] == n
        await forget(url, namespace)
    finally:
        await bus.aclose()
    return elapsed


async def forget(url: str, namespace: str) -> None:
    """Delete every key of *namespace*, so that no round sees another's."""
    client = aioredis.from_url(url)
    try:
        await delete_matching(client, f"{namespace}:*")
    finally:
        await client.aclose()


async def wait_until_empty(client: aioredis.Redis, queue: str) -> None:
    """Return once arq's queue is empty, looking every RESULT_POLL seconds (one ZCARD).

    An arq worker removes a job from the queue in the same transaction
    (MULTI/EXEC) that writes its result, so an empty queue after the last
    enqueue means every result is written: one cheap look, where `Job.result`
    would poll each job's result key in turn."""
    while await client.zcard(queue):
        await asyncio.sleep(RESULT_POLL)


async def run_arq(url: str, workers: int, n: int, capacity: int) -> float:
    """Seconds for N no-op arq jobs through *workers* arq worker processes."""
    queue = fresh("arq:queue")
    pool = await create_pool(RedisSettings.from_dsn(url), default_queue_name=queue)
    try:
        with Peers() as peers:
            for _ in range(workers):
                peers.start("arq", url, queue, str(capacity), repr(ARQ_POLL_DELAY))
            await asyncio.to_thread(peers.wait_ready)
            gate = asyncio.Semaphore(ENQUEUE_CONCURRENCY)

            async def enqueue() -> str:
                async with gate:
                    job = await pool.enqueue_job("noop")
                return job.job_id

            gc.collect()
            started = time.perf_counter()
            job_ids = await asyncio.gather(*(enqueue() for _ in range(n)))
            await wait_until_empty(pool, queue)
            elapsed = time.perf_counter() - started
            kept = await pool.exists(*(result_key_prefix + job_id for job_id in job_ids))
            assert kept == n, f"arq kept {kept} results of {n}"
        for start in range(0, n, 1000):  # arq's keys are global: delete this run's own
            await pool.delete(*(result_key_prefix + j for j in job_ids[start:start + 1000]))
        await delete_matching(pool, f"{queue}*")
    finally:
        await pool.aclose()
    return elapsed


async def run_bare(url: str, workers: int, n: int, capacity: int) -> float:
    """Seconds for N requests answered through a bare XADD/XREADGROUP/XACK loop."""
    prefix = fresh("bare")
    requests, results, group = f"{prefix}:requests", f"{prefix}:results", "bench"
    client = aioredis.from_url(url)
    try:
        for stream in (requests, results):
            await client.xgroup_create(stream, group, id="0", mkstream=True)
        with Peers() as peers:
            for i in range(workers):
                peers.start("bare", url, requests, results, group, f"c{i}", str(READ_COUNT))
            await asyncio.to_thread(peers.wait_ready)

            async def produce() -> None:
                for start in range(0, n, PIPELINE):
                    pipe = client.pipeline(transaction=False)
                    for i in range(start, min(start + PIPELINE, n)):
                        pipe.xadd(requests, {b"m": b"%d" % i})
                    await pipe.execute()

            async def collect() -> None:
                got = 0
                while got < n:
                    reply = await client.xreadgroup(group, "producer", {results: ">"},
                                                    count=READ_COUNT, block=1000)
                    if not reply:
                        continue
                    ids = [entry_id for entry_id, _ in reply[0][1]]
                    pipe = client.pipeline(transaction=False)
                    pipe.xack(results, group, *ids)
                    pipe.xdel(results, *ids)
                    await pipe.execute()
                    got += len(ids)

            gc.collect()
            started = time.perf_counter()
            await asyncio.gather(produce(), collect())
            elapsed = time.perf_counter() - started
        await client.delete(requests, results)
    finally:
        await client.aclose()
    return elapsed


CONTENDERS = {"bare": run_bare, "arq": run_arq, "course_lib": run_course_lib}


def rates(url: str, workers: int, n: int, rounds: int, capacity: int) -> dict[str, float]:
    """Best tasks/s of each contender over *rounds* rounds, taking turns in a
    rotating order; every run gets a fresh loop and fresh processes."""
    best = dict.fromkeys(CONTENDERS, 0.0)
    names = list(CONTENDERS)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            seconds = asyncio.run(CONTENDERS[name](url, workers, n, capacity))
            best[name] = max(best[name], n / seconds)
    return best


# ------------------------------------------------------------------ failover

async def failover(url: str, kills: int) -> list[float]:
    """Seconds from each SIGKILL until the killed worker's task runs on another."""
    interval, timeout = HEARTBEAT
    rng = random.Random(SEED)
    namespace = fresh("fo")
    bus = RedisBus(url, namespace=namespace)
    times: list[float] = []
    loop = asyncio.get_running_loop()
    try:
        with LocalCluster(url, namespace, grace=1, cwd=str(HERE)) as cluster:
            async with Coordinator(bus=bus, heartbeat_interval=interval,
                                   heartbeat_timeout=timeout) as coordinator:

                def next_event(matches: Any) -> asyncio.Future:
                    found = loop.create_future()

                    def look(event: Any) -> None:
                        if not found.done() and matches(event):
                            found.set_result(event)

                    unsubscribe = coordinator.subscribe(look)
                    found.add_done_callback(lambda _: unsubscribe())
                    return found

                # Capacity for every task that will land on a survivor.
                started = 0
                for _ in range(2):
                    cluster.start(SLEEPY, f"sleepy-{started}", capacity=kills + 1)
                    started += 1
                await coordinator.wait_for_agents(2, timeout=START_TIMEOUT)
                for _ in range(kills):
                    task_id = await coordinator.assign_task({"type": "search", "seconds": 60})
                    victim = coordinator.tasks[task_id].agent
                    assert coordinator.tasks[task_id].state is TaskState.RUNNING and victim
                    beat = next_event(lambda e: e.kind is EventKind.HEARTBEAT
                                      and e.agent_id == victim)
                    await asyncio.wait_for(beat, START_TIMEOUT)
                    await asyncio.sleep(rng.uniform(0, interval))
                    moved = next_event(lambda e: e.kind is EventKind.TASK and e.task_id == task_id
                                       and e.new is TaskState.RUNNING and e.attempt >= 2)
                    killed_at = loop.time()
                    cluster.kill(victim)
                    event = await asyncio.wait_for(moved, START_TIMEOUT)
                    assert event.from_agent == victim and event.agent_id != victim, event
                    times.append(event.time - killed_at)
                    # A fresh worker (a new id) for the next kill.
                    cluster.start(SLEEPY, f"sleepy-{started}", capacity=kills + 1)
                    started += 1
                    await coordinator.wait_for_agents(2, timeout=START_TIMEOUT)
        await forget(url, namespace)
    finally:
        await bus.aclose()
    return times


# ------------------------------------------------------------------ main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="300 tasks, one round, 2 kills (a smoke test)")
    parser.add_argument("--capacity", type=int, default=CAPACITY,
                        help=f"tasks per worker at once: --capacity and max_jobs (default {CAPACITY})")
    args = parser.parse_args()
    n, rounds, kills = (300, 1, 2) if args.quick else (5_000, 3, 8)
    # SIGTERM as Ctrl-C: the finally blocks stop every worker and the server.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    with local_redis() as url:
        print(f"Throughput: {n} no-op tasks through K worker processes on one local "
              f"redis-server, best of {rounds} interleaved round(s); capacity per worker "
              f"{args.capacity} (course_lib --capacity = arq max_jobs); arq poll_delay "
              f"{ARQ_POLL_DELAY:g} s\n")
        print("| K workers | bare loop (tasks/s) | arq (tasks/s) | course_lib (tasks/s) "
              "| vs arq | vs bare | targets (>= 2x arq, >= 1/3 bare) |")
        print("|---:|---:|---:|---:|---:|---:|:---:|")
        for workers in WORKER_COUNTS:
            best = rates(url, workers, n, rounds, args.capacity)
            ours, arq, bare = best["course_lib"], best["arq"], best["bare"]
            met = ours >= 2 * arq and ours >= bare / 3
            print(f"| {workers} | {bare:,.0f} | {arq:,.0f} | {ours:,.0f} | {ours / arq:.2f}x "
                  f"| {ours / bare:.2f} | {'yes' if met else 'NO'} |", flush=True)

        interval, timeout = HEARTBEAT
        times = asyncio.run(failover(url, kills))
        bound = timeout + interval
        mean, worst = sum(times) / len(times), max(times)
        print(f"\nFailover after SIGKILL: kill -> task running on another worker process, "
              f"{len(times)} kills\n")
        print("| heartbeat_interval | heartbeat_timeout | mean (s) | worst (s) "
              "| bound: timeout + interval | met |")
        print("|---:|---:|---:|---:|---:|:---:|")
        print(f"| {interval:g} | {timeout:g} | {mean:.3f} | {worst:.3f} | {bound:g} | "
              f"{'yes' if worst <= bound else 'NO'} |")


if __name__ == "__main__":
    main()
