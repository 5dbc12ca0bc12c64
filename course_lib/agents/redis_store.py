"""`RedisTaskStore`: a coordinator's task records in Redis, so that a restarted one resumes.

A `Coordinator` on a `RedisBus` gets one from ``bus.task_store(coordinator_id)``.
Three keys under ``{namespace}:coordinator:{id}``:

``:tasks``
    a hash, task id -> the task's row (JSON; see `TaskBook.row`), replaced
    at each save;
``:order``
    a sorted set of the task ids, scored 1, 2, 3... in the order they were
    first saved, so that a restarted coordinator queues the unfinished ones
    in their old order;
``:results``
    a hash, task id -> the outcome it finished with, written with
    ``HSETNX``: a task's outcome is recorded once and can never be
    overwritten.  ``:results:again`` counts attempts to record a second
    outcome for a task (it stays 0: completion is exactly once).

Every call goes through the bus's retries, so a lost connection waits for
the server instead of failing the coordinator.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Optional

from .taskbook import TaskStore

__all__ = ["RedisTaskStore"]

FINAL = ("completed", "failed")


class RedisTaskStore(TaskStore):
    """Task rows in Redis (see the module docstring).

    *run* runs ``operation(client)`` for it, with the bus's retries; *prefix*
    is ``{namespace}:coordinator:{id}``.
    """

    def __init__(self, run: Callable[[Callable[[Any], Awaitable[Any]]], Awaitable[Any]],
                 prefix: str) -> None:
        self._run = run
        self.prefix = prefix
        self.tasks_key = f"{prefix}:tasks"
        self.order_key = f"{prefix}:order"
        self.results_key = f"{prefix}:results"
        self.again_key = f"{prefix}:results:again"
        self._ordered: set[str] = set()  # ids known to be in :order
        self._next_score: Optional[int] = None  # known after load (or the first save)

    async def load(self) -> list[dict[str, Any]]:
        async def read(client: Any) -> list[dict[str, Any]]:
            ranked = await client.zrange(self.order_key, 0, -1, withscores=True)
            self._ordered = {task_id.decode() for task_id, _ in ranked}
            self._next_score = int(ranked[-1][1]) + 1 if ranked else 1
            if not ranked:
                return []
            rows = await client.hmget(self.tasks_key, [task_id for task_id, _ in ranked])
            return [json.loads(row) for row in rows if row is not None]

        return await self._run(read)

    async def save(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._next_score is None:  # saved before any load: go on after what is there
            last = await self._run(lambda client: client.zrange(
                self.order_key, -1, -1, withscores=True))
            self._next_score = int(last[0][1]) + 1 if last else 1
        new = {row["id"]: None for row in rows if row["id"] not in self._ordered}
        first_score = self._next_score

        async def write(client: Any) -> None:
            async with client.pipeline(transaction=False) as pipe:
                if new:  # NX: a retried pipeline keeps the first scores
                    pipe.zadd(self.order_key, {task_id: first_score + i
                                               for i, task_id in enumerate(new)}, nx=True)
                pipe.hset(self.tasks_key, mapping={
                    row["id"]: json.dumps(row, ensure_ascii=False) for row in rows})
                final = [row for row in rows if row["state"] in FINAL]
                for row in final:
                    outcome = {"state": row["state"], "result": row["result"],
                               "error": row["error"]}
                    pipe.hsetnx(self.results_key, row["id"],
                                json.dumps(outcome, ensure_ascii=False))
                replies = await pipe.execute()
            # A retried pipeline finds its own HSETNX done already: count only
            # outcomes that differ from the one recorded.
            again = 0
            for row, written in zip(final, replies[-len(final):] if final else ()):
                if not written:
                    recorded = json.loads(await client.hget(self.results_key, row["id"]))
                    if recorded["state"] != row["state"] or recorded["result"] != row["result"]:
                        again += 1
            if again:
                await client.incrby(self.again_key, again)

        await self._run(write)
        self._ordered.update(new)
        self._next_score = first_score + len(new)

    async def recorded(self) -> dict[str, Any]:
        """Every recorded outcome, by task id (for checks and dashboards)."""
        async def read(client: Any) -> dict[str, Any]:
            raw = await client.hgetall(self.results_key)
            return {key.decode(): json.loads(value) for key, value in raw.items()}

        return await self._run(read)

    async def recorded_again(self) -> int:
        """How many times a second, different outcome was offered for a finished task."""
        return int(await self._run(lambda client: client.get(self.again_key)) or 0)
