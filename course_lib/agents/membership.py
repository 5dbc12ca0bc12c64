"""Membership: which agents exist, whether each is alive, and which can take a task now.

`Membership` keeps one `AgentInfo` per registered agent and the rules of
its status:

* ``register`` adds an agent (IDLE).  The same registration delivered again
  changes nothing.  A registration from a *new incarnation* of a known agent
  (its process restarted) replaces the old one at once: the old
  incarnation's attempts are given up without waiting for its heartbeats
  to stop, and the new one's capabilities and capacity count from then on.
* ``heard_from`` records a heartbeat (or any sign of life); an OFFLINE agent
  heard from again is back online.
* ``silent`` lists the online agents whose last sign of life is
  ``heartbeat_timeout`` old; ``mark_offline`` takes one offline and returns
  the attempts it held.
* ``took`` / ``gave_back`` move an attempt onto / off an agent's slots.

For dispatch it keeps, for each *route* (a capability, or one agent's id
for tasks pinned to it), the agents that could take one more task right
now, so finding a free agent never scans them all.  Status changes are
`AgentEvent` objects handed to ``emit``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Optional

from ..i18n import Reason
from .types import AgentCapability, AgentEvent, AgentInfo, AgentStatus, EventKind, Route

__all__ = ["Membership", "Member"]

IDLE, BUSY, OFFLINE = AgentStatus.IDLE, AgentStatus.BUSY, AgentStatus.OFFLINE
AGENT = EventKind.AGENT


class Member:
    """Bookkeeping for one registered agent besides its public `AgentInfo`."""

    __slots__ = ("info", "routes", "free", "stale", "latency_sum", "latency_count")

    def __init__(self, info: AgentInfo) -> None:
        self.info = info
        self.routes = self.routes_of(info)
        self.free = False  # online with a free slot: listed in Membership.free
        self.stale: dict[str, int] = {}  # attempts taken away while it was offline
        self.latency_sum = 0.0
        self.latency_count = 0

    @staticmethod
    def routes_of(info: AgentInfo) -> tuple[Route, ...]:
        """The queues an agent can serve, in a fixed order (sets of enums
        iterate in a different order in every process)."""
        return (*(c for c in AgentCapability if c in info.capabilities), info.id)


class Membership:
    """The registered agents and their status (see the module docstring)."""

    def __init__(self, *, emit: Callable[[AgentEvent], Any]) -> None:
        self.agents: dict[str, AgentInfo] = {}
        self.members: dict[str, Member] = {}
        self._capable: dict[AgentCapability, list[AgentInfo]] = {}
        self._free: dict[Route, dict[str, AgentInfo]] = {}
        self._emit = emit

    # ---------------------------------------------------------- joining

    def register(self, agent_id: str, capabilities: Iterable[AgentCapability], capacity: int,
                 incarnation: str, now: float) -> tuple[Member, Optional[dict[str, int]]]:
        """Add or renew agent *agent_id*.

        Returns its member and, for a new incarnation of a known agent, the
        attempts the old one held (``{task_id: attempt}``, to go to other
        agents); None when nothing was replaced.
        """
        member = self.members.get(agent_id)
        if member is not None:
            info = member.info
            if info.incarnation == incarnation or not incarnation:
                self.heard_from(member, now)  # the same registration again
                return member, None
            held = self.mark_offline(member, Reason("replaced by a new run of the agent"), now) \
                if info.status is not OFFLINE else {}
            info.incarnation = incarnation
            member.stale.clear()  # the new run never had them
            for capability in info.capabilities:  # it may have others now
                self._capable[capability].remove(info)
            info.capabilities, info.capacity = set(capabilities), capacity
            member.routes = member.routes_of(info)
            self._index(member)
            self.heard_from(member, now)
            return member, held
        info = AgentInfo(agent_id, set(capabilities), capacity=capacity,
                         last_heartbeat=now, incarnation=incarnation)
        member = self.members[agent_id] = Member(info)
        self.agents[agent_id] = info
        self._index(member)
        self._refresh(member)
        self._emit(AgentEvent(time=now, kind=AGENT, agent_id=agent_id, new=IDLE,
                              reason=Reason("registered")))
        return member, None

    def _index(self, member: Member) -> None:
        """List an agent under its capabilities and routes (it is not free yet)."""
        info = member.info
        for capability in info.capabilities:
            self._capable.setdefault(capability, []).append(info)
        for route in member.routes:
            self._free.setdefault(route, {})

    def remove(self, agent_id: str, now: float) -> Member:
        """Forget *agent_id* (it is OFFLINE already)."""
        member = self.members.pop(agent_id)
        info = member.info
        self._emit(AgentEvent(time=now, kind=AGENT, agent_id=agent_id, old=OFFLINE,
                              reason=Reason("unregistered")))
        del self.agents[agent_id], self._free[agent_id]
        for capability in info.capabilities:
            self._capable[capability].remove(info)
        return member

    # ----------------------------------------------------------- liveness

    def heard_from(self, member: Member, now: float) -> bool:
        """A sign of life; True if the agent was OFFLINE and is back online."""
        info = member.info
        info.last_heartbeat = now
        if info.status is not OFFLINE:
            return False
        info.status = IDLE
        self._refresh(member)
        self._emit(AgentEvent(time=now, kind=AGENT, agent_id=info.id, old=OFFLINE, new=IDLE,
                              reason=Reason("heard from again")))
        return True

    def silent(self, now: float, timeout: float) -> list[Member]:
        """Online agents not heard from for *timeout* seconds."""
        return [m for m in self.members.values()
                if m.info.status is not OFFLINE and now >= m.info.last_heartbeat + timeout]

    def next_silence(self, timeout: float) -> Optional[float]:
        """When the first online agent will have been silent for *timeout*."""
        return min((info.last_heartbeat + timeout for info in self.agents.values()
                    if info.status is not OFFLINE), default=None)

    def mark_offline(self, member: Member, reason: Reason, now: float) -> dict[str, int]:
        """Mark an agent OFFLINE; return the attempts it held (``{task_id: attempt}``)."""
        info = member.info
        self._emit(AgentEvent(time=now, kind=AGENT, agent_id=info.id, old=info.status,
                              new=OFFLINE, reason=reason))
        info.status = OFFLINE
        held = dict(info.in_flight)
        member.stale.update(held)
        info.in_flight.clear()
        self._refresh(member)
        return held

    # -------------------------------------------------------------- slots

    def free_all_slots(self) -> None:
        """Forget every attempt in flight (the coordinator stopped)."""
        for member in self.members.values():
            member.info.in_flight.clear()
            self._refresh(member)

    def took(self, info: AgentInfo, task_id: str, attempt: int) -> None:
        """*info*'s agent runs attempt *attempt* of *task_id* now."""
        info.in_flight[task_id] = attempt
        info.tasks_assigned += 1
        info.status = BUSY
        if len(info.in_flight) >= info.capacity:  # else it stays free
            self._refresh(self.members[info.id])

    def gave_back(self, member: Member, task_id: str, attempt: int) -> bool:
        """The agent answered attempt *attempt* of *task_id*: free its slot.
        False if it did not hold that attempt."""
        info = member.info
        in_flight = info.in_flight
        if in_flight.get(task_id) != attempt:
            return False
        del in_flight[task_id]
        if not in_flight:
            info.status = IDLE
        if not member.free:
            self._refresh(member)
        return True

    def free(self, route: Route) -> dict[str, AgentInfo]:
        """The agents that could take a task of *route* now, by id (do not change it)."""
        return self._free.get(route) or {}

    def capable(self, capability: AgentCapability) -> list[AgentInfo]:
        """The registered agents with *capability* (any status), in registration order."""
        return self._capable.get(capability, [])

    def _refresh(self, member: Member) -> None:
        """Keep ``_free`` in step after the agent's status or load changed."""
        info = member.info
        free = info.status is not OFFLINE and len(info.in_flight) < info.capacity
        if free is not member.free:
            member.free = free
            agent_id, free_on = info.id, self._free
            if free:
                for route in member.routes:
                    free_on[route][agent_id] = info
            else:
                for route in member.routes:
                    del free_on[route][agent_id]
