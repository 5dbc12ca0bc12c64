"""The coordinator's waiting room: tasks that have no agent yet."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Optional

from .types import Route, TaskRecord

__all__ = ["TaskQueue"]


class TaskQueue:
    """Waiting tasks, FIFO for each route (a capability, or the one agent allowed).

    One queue per route means a task that no agent can take now never holds
    back a task of another capability.  Re-queued tasks go to the front.

    Example use::

        coordinator.task_queue.qsize()        # tasks waiting, as on asyncio.Queue
        [record.id for record in coordinator.task_queue]
    """

    def __init__(self) -> None:
        self._fifos: dict[Route, deque[TaskRecord]] = {}

    def put(self, record: TaskRecord, *, front: bool = False) -> None:
        fifo = self._fifos.get(record.route)
        if fifo is None:
            fifo = self._fifos[record.route] = deque()
        if front:
            fifo.appendleft(record)
        else:
            fifo.append(record)

    def fifo(self, route: Route) -> Optional[deque[TaskRecord]]:
        """The live FIFO of *route* (None if nothing ever waited there)."""
        return self._fifos.get(route)

    def remove(self, record: TaskRecord) -> None:
        self._fifos[record.route].remove(record)

    def routes(self) -> list[Route]:
        """Routes that have waiting tasks, in the order they first had one."""
        return [route for route, fifo in self._fifos.items() if fifo]

    def qsize(self) -> int:
        return sum(map(len, self._fifos.values()))

    __len__ = qsize

    def __iter__(self) -> Iterator[TaskRecord]:
        for fifo in self._fifos.values():
            yield from fifo

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{getattr(route, 'value', route)}={len(fifo)}" for route, fifo in self._fifos.items() if fifo
        )
        return f"<TaskQueue {parts or 'empty'}>"
