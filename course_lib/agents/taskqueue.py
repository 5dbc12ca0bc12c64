"""The coordinator's waiting room: tasks that have no agent yet."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Optional

from .types import Route, TaskRecord, TaskState

__all__ = ["TaskQueue"]

QUEUED = TaskState.QUEUED


class TaskQueue:
    """Waiting tasks, FIFO for each route (a capability, or the one agent allowed).

    One queue per route means a task that no agent can take now never holds
    back a task of another capability.  Re-queued tasks go to the front.

    A task that ends while it waits (its deadline passed, the coordinator
    stopped) is dropped in O(1): its entry stays behind, is skipped when
    reached, and all such entries are swept out once they outnumber the
    waiting ones.  So expiring many waiting tasks in any order stays linear.

    Example use::

        coordinator.task_queue.qsize()        # tasks waiting, as on asyncio.Queue
        [record.id for record in coordinator.task_queue]
    """

    def __init__(self) -> None:
        self._fifos: dict[Route, deque[TaskRecord]] = {}
        self._size = 0  # waiting tasks
        self._ended = 0  # entries left behind by tasks that ended while waiting

    def put(self, record: TaskRecord, *, front: bool = False) -> None:
        """Add a QUEUED *record* at the back of its route's FIFO (or the front)."""
        fifo = self._fifos.get(record.route)
        if fifo is None:
            fifo = self._fifos[record.route] = deque()
        if front:
            fifo.appendleft(record)
        else:
            fifo.append(record)
        self._size += 1

    def take(self, route: Route) -> Optional[TaskRecord]:
        """Remove and return the first waiting task of *route*, or None."""
        fifo = self._fifos.get(route)
        while fifo:
            record = fifo.popleft()
            if record.state is QUEUED:
                self._size -= 1
                return record
            self._ended -= 1
        return None

    def head(self, route: Route) -> Optional[TaskRecord]:
        """The first waiting task of *route* (left in place), or None."""
        fifo = self._fifos.get(route)
        while fifo:
            record = fifo[0]
            if record.state is QUEUED:
                return record
            fifo.popleft()  # ended while it waited
            self._ended -= 1
        return None

    def discard(self, record: TaskRecord) -> None:
        """Forget *record*, which was waiting and has just ended (its state is final)."""
        self._size -= 1
        self._ended += 1
        if self._ended > self._size:
            for fifo in self._fifos.values():
                waiting = [r for r in fifo if r.state is QUEUED]
                fifo.clear()
                fifo.extend(waiting)
            self._ended = 0

    def routes(self) -> list[Route]:
        """Routes that have waiting tasks, in the order they first had one."""
        return [route for route, fifo in self._fifos.items() if any(r.state is QUEUED for r in fifo)]

    def qsize(self) -> int:
        return self._size

    __len__ = qsize

    def __iter__(self) -> Iterator[TaskRecord]:
        for fifo in self._fifos.values():
            for record in fifo:
                if record.state is QUEUED:
                    yield record

    def __repr__(self) -> str:
        counts = {}
        for record in self:
            route = getattr(record.route, "value", record.route)
            counts[route] = counts.get(route, 0) + 1
        parts = ", ".join(f"{route}={n}" for route, n in counts.items())
        return f"<TaskQueue {parts or 'empty'}>"
