"""The worker-process side of bench_redis.py: its agents, arq's job and the bare consumer.

course_lib workers import the agents by name (``--agent redis_peers:NoopAgent``,
with bench/ as their working directory).  arq workers and bare consumers run
this file as a script::

    python bench/redis_peers.py arq  URL QUEUE MAX_JOBS POLL_DELAY
    python bench/redis_peers.py bare URL REQUESTS RESULTS GROUP NAME COUNT

Both print one line, ``ready``, once they are connected, then work until
SIGTERM (or Ctrl-C).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from course_lib.agents import AgentCapability, BaseAgent

GROUP = "bench"
FIELD = b"m"


class NoopAgent(BaseAgent):
    """Returns None at once: what is measured is the system around it."""

    def __init__(self, agent_id: str) -> None:
        super().__init__(agent_id, {AgentCapability.SEARCH})

    async def process_task(self, task: dict[str, Any]) -> None:
        return None


class SleepyAgent(BaseAgent):
    """Sleeps ``task["seconds"]`` (60 by default): a task to be cut off by SIGKILL."""

    def __init__(self, agent_id: str) -> None:
        super().__init__(agent_id, {AgentCapability.SEARCH})

    async def process_task(self, task: dict[str, Any]) -> str:
        await asyncio.sleep(task.get("seconds", 60))
        return self.id


async def noop(ctx: dict[str, Any]) -> None:
    """arq's job: nothing."""
    return None


def arq_worker(url: str, queue: str, max_jobs: int, poll_delay: float) -> None:
    """One arq worker on *queue*, as ``arq`` would run it, minus the CLI's per-job log lines."""
    from arq.connections import RedisSettings
    from arq.worker import run_worker

    async def ready(ctx: dict[str, Any]) -> None:
        print("ready", flush=True)

    class WorkerSettings:
        functions = [noop]
        redis_settings = RedisSettings.from_dsn(url)
        queue_name = queue
        on_startup = ready

    run_worker(WorkerSettings, max_jobs=max_jobs, poll_delay=poll_delay)


def bare_consumer(url: str, requests: str, results: str, group: str, name: str,
                  count: int) -> None:
    """The floor: read a page of requests, answer each with one XADD, acknowledge the page.

    Per page of up to *count* requests: one XREADGROUP; then one pipeline
    with an XADD per request (its result, on the results stream) and one
    XACK and one XDEL for the whole page (RedisBus removes handled entries
    the same way).
    """
    import redis

    client = redis.Redis.from_url(url)
    client.ping()
    print("ready", flush=True)
    while True:
        reply = client.xreadgroup(group, name, {requests: ">"}, count=count, block=1000)
        if not reply:
            continue
        entries = reply[0][1]
        ids = [entry_id for entry_id, _ in entries]
        pipe = client.pipeline(transaction=False)
        for entry_id, fields in entries:
            pipe.xadd(results, {FIELD: fields.get(FIELD, b"") + b"|done"})
        pipe.xack(requests, group, *ids)
        pipe.xdel(requests, *ids)
        pipe.execute()


def main(argv: list[str]) -> None:
    kind, *args = argv
    try:
        if kind == "arq":
            url, queue, max_jobs, poll_delay = args
            arq_worker(url, queue, int(max_jobs), float(poll_delay))
        elif kind == "bare":
            url, requests, results, group, name, count = args
            bare_consumer(url, requests, results, group, name, int(count))
        else:
            raise SystemExit(f"unknown peer {kind!r}: arq or bare")
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: leave quietly
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
