"""The coordinator's waiting room: tasks that have no agent yet."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import Optional

from .types import Route, TaskRecord, TaskState

__all__ = ["TaskQueue"]

QUEUED = TaskState.QUEUED


class TaskQueue:
    """Waiting tasks, FIFO for each route (a capability, or the one agent allowed).

    One queue per route means a task that no agent can take now never holds
    back a task of another capability.  Re-queued tasks go to the front.

    A retry that must wait for an agent that has not failed it yet is
    *parked*, grouped by the set of agents that failed it, so that looking
    for work for a free agent checks each group once instead of rescanning
    every parked task (retries against an agent that fails everything
    stay linear).

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
        # route -> the agents that failed them -> parked retries, in the order parked
        self._parked: dict[Route, dict[frozenset[str], deque[TaskRecord]]] = {}
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

    def park(self, record: TaskRecord) -> None:
        """Keep a waiting retry aside until an agent it may run on is free."""
        groups = self._parked.setdefault(record.route, {})
        groups.setdefault(record.failed_on, deque()).append(record)
        self._size += 1

    def take(self, route: Route,
             may_run: Optional[Callable[[TaskRecord], bool]] = None) -> Optional[TaskRecord]:
        """Remove and return the longest-waiting task of *route*, or None.

        Parked tasks count only if *may_run* says one may run now (it is asked
        once per group: their tasks failed on the same agents).
        """
        best: Optional[tuple[TaskRecord, deque[TaskRecord]]] = None
        fifo = self._fifos.get(route)
        if fifo is not None and (head := self._first_waiting(fifo)) is not None:
            best = head, fifo
        if may_run is not None:
            for fifo in self._parked.get(route, {}).values():
                head = self._first_waiting(fifo)
                if head is not None and (best is None or head.submitted_at < best[0].submitted_at) \
                        and may_run(head):
                    best = head, fifo
        if best is None:
            return None
        best[1].popleft()
        self._size -= 1
        return best[0]

    def head(self, route: Route) -> Optional[TaskRecord]:
        """The longest-waiting task of *route* (left in place), or None."""
        heads = [self._first_waiting(fifo) for fifo in self._all_fifos(route)]
        return min((h for h in heads if h is not None), key=lambda r: r.submitted_at, default=None)

    def _first_waiting(self, fifo: deque[TaskRecord]) -> Optional[TaskRecord]:
        while fifo:
            record = fifo[0]
            if record.state is QUEUED:
                return record
            fifo.popleft()  # ended while it waited
            self._ended -= 1
        return None

    def _all_fifos(self, route: Optional[Route] = None) -> Iterator[deque[TaskRecord]]:
        """The FIFOs of *route* (or of every route): fresh tasks, then parked groups."""
        routes = {**self._fifos, **self._parked} if route is None else (route,)  # in order
        for r in routes:
            if r in self._fifos:
                yield self._fifos[r]
            yield from self._parked.get(r, {}).values()

    def discard(self, record: TaskRecord) -> None:
        """Forget *record*, which was waiting and has just ended (its state is final)."""
        self._size -= 1
        self._ended += 1
        if self._ended > self._size:
            for fifo in self._all_fifos():
                waiting = [r for r in fifo if r.state is QUEUED]
                fifo.clear()
                fifo.extend(waiting)
            self._ended = 0

    def routes(self) -> list[Route]:
        """Routes that have waiting tasks, in the order they first had one."""
        return [route for route in {**self._fifos, **self._parked}
                if any(r.state is QUEUED for fifo in self._all_fifos(route) for r in fifo)]

    def qsize(self) -> int:
        return self._size

    __len__ = qsize

    def __iter__(self) -> Iterator[TaskRecord]:
        for fifo in self._all_fifos():
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
