"""A coordinator process for the chaos test: submit N tasks under fixed ids, wait, report.

    python -m tests.workers.coordinator URL NAMESPACE N SEED

Killed and started again with the same arguments, it resumes: the tasks it
saved come back from Redis, and submitting them again under their ids is a
no-op.  It prints "submitted N" once its tasks are saved, then one JSON
line: the results and its own stats.
"""

import asyncio
import json
import random
import sys

from course_lib.agents import Coordinator, EventKind
from course_lib.agents.redis_bus import RedisBus

HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT = 0.2, 0.6


def tasks(n, seed):
    rng = random.Random(seed)
    return [(f"chaos-{i}", {"type": "calculate", "x": i, "ms": rng.randint(10, 50)})
            for i in range(n)]


async def main(url, namespace, n, seed):
    bus = RedisBus(url, namespace=namespace)
    try:
        async with Coordinator(bus=bus, heartbeat_interval=HEARTBEAT_INTERVAL,
                               heartbeat_timeout=HEARTBEAT_TIMEOUT, max_attempts=50) as c:
            resumed = sum(1 for e in c.event_log if e.kind is EventKind.TASK
                          and e.reason == "resumed after a coordinator restart")
            ids = [await c.assign_task(task, task_id=task_id) for task_id, task in tasks(n, seed)]
            print(f"submitted {len(ids)}", flush=True)  # saved in Redis by now
            results = await c.gather(ids)
            stats = c.get_stats()
    finally:
        await bus.aclose()
    print(json.dumps({"results": dict(zip(ids, results)), "resumed": resumed,
                      "reassigned": stats["reassigned"], "ignored": stats["ignored"]}), flush=True)


if __name__ == "__main__":
    url, namespace, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    asyncio.run(main(url, namespace, n, seed))
