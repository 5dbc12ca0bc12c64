"""Dispatch: match waiting tasks with free agents.

`dispatch` takes the routes that may have work (a capability, or one
agent's id for pinned tasks), oldest waiting task first, and while a route
has both a waiting task and a free agent, starts an attempt (so an agent
with several capabilities serves the one that has waited longest, and a
busy capability cannot starve the others): the balancing policy chooses among the free
agents, avoiding those that already failed this task while another online
agent could still try it.  It returns what it started; sending the
TASK_REQUEST messages is the coordinator's job.
"""

from __future__ import annotations

from collections.abc import Iterable

from .balancing import BalancingPolicy
from .membership import Membership
from .taskbook import TaskBook
from .types import AgentInfo, AgentStatus, Route, TaskRecord

__all__ = ["dispatch"]

OFFLINE = AgentStatus.OFFLINE


def dispatch(routes: Iterable[Route], book: TaskBook, membership: Membership,
             policy: BalancingPolicy, now: float) -> list[tuple[TaskRecord, AgentInfo, int]]:
    """Start waiting tasks of *routes* on free agents; return ``(record, agent, attempt)`` for each."""
    started = []
    queue = book.queue
    heads = {route: queue.head(route) for route in routes}
    for route in sorted((r for r, head in heads.items() if head is not None),
                        key=lambda r: heads[r].submitted_at):
        free = membership.free(route)
        if not free:
            continue
        def may_run(record: TaskRecord) -> bool:
            return bool(_avoid_failed(record, list(free.values()), membership))

        while free:  # agents leave *free* as they fill up
            record = queue.take(route, may_run)
            if record is None:
                break
            candidates = list(free.values())
            if record.failed_on:
                candidates = _avoid_failed(record, candidates, membership)
                if not candidates:
                    queue.park(record)  # waits for an agent that has not failed it
                    continue
            info = policy.choose(candidates)
            attempt = book.start_attempt(record, info.id, now)
            membership.took(info, record.id, attempt)
            started.append((record, info, attempt))
    return started


def _avoid_failed(record: TaskRecord, candidates: list[AgentInfo],
                  membership: Membership) -> list[AgentInfo]:
    """The candidates that may retry *record*: those that have not failed it,
    or all of them when every online agent that could run it has."""
    fresh = [a for a in candidates if a.id not in record.failed_on]
    if fresh:
        return fresh
    for info in membership.capable(record.capability):
        if info.status is not OFFLINE and info.id not in record.failed_on \
                and record.agent_only in (None, info.id):
            return []  # wait for that one
    return candidates
