"""Load-balancing policies: which free agent gets the next task.

The coordinator calls ``policy.choose(candidates)`` with the agents that may
take the task now (online, with the capability and a free slot), in
registration order, and sends the task to the one returned.  A policy only
chooses; capacity, capabilities and retries are the coordinator's business.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Optional

from .types import AgentInfo

__all__ = [
    "BalancingPolicy",
    "LeastLoaded",
    "RoundRobin",
    "RandomChoice",
    "PowerOfTwoChoices",
    "make_policy",
]


def _load_key(info: AgentInfo) -> tuple[float, int]:
    # Fullness first; among equals, the agent that was given fewer tasks so far.
    return info.load, info.tasks_assigned


class BalancingPolicy(ABC):
    """Chooses one agent out of a non-empty sequence of candidates."""

    name: ClassVar[str]

    @abstractmethod
    def choose(self, candidates: Sequence[AgentInfo]) -> AgentInfo:
        """Return the candidate that gets the task."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class LeastLoaded(BalancingPolicy):
    """The agent with the lowest in-flight/capacity; ties go to the one given fewer tasks.

    Example use::

        Coordinator(policy=LeastLoaded())      # the default
    """

    name = "least_loaded"

    def choose(self, candidates: Sequence[AgentInfo]) -> AgentInfo:
        return candidates[0] if len(candidates) == 1 else min(candidates, key=_load_key)


class RoundRobin(BalancingPolicy):
    """Each agent in turn, in the order they were first seen, skipping busy ones.

    Example use::

        Coordinator(policy=RoundRobin())
    """

    name = "round_robin"

    def __init__(self) -> None:
        self._position: dict[str, int] = {}
        self._last = -1

    def choose(self, candidates: Sequence[AgentInfo]) -> AgentInfo:
        position = self._position
        for info in candidates:
            position.setdefault(info.id, len(position))
        last, ring = self._last, len(position)
        chosen = min(candidates, key=lambda info: (position[info.id] - last - 1) % ring)
        self._last = position[chosen.id]
        return chosen

    def __repr__(self) -> str:
        return f"<RoundRobin agents_seen={len(self._position)}>"


class RandomChoice(BalancingPolicy):
    """A uniformly random candidate from ``random.Random(seed)``.

    Example use::

        Coordinator(policy=RandomChoice(seed=7))
    """

    name = "random"

    def __init__(self, seed: Optional[int] = None) -> None:
        self.seed = seed
        self._rng = random.Random(seed)

    def choose(self, candidates: Sequence[AgentInfo]) -> AgentInfo:
        return self._rng.choice(candidates)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} seed={self.seed!r}>"


class PowerOfTwoChoices(RandomChoice):
    """Two random candidates; the less loaded of them wins.

    Nearly as even as least-loaded while looking at only two agents, which is
    what makes it scale when agents are many and their load is costly to ask.

    Example use::

        Coordinator(policy=PowerOfTwoChoices(seed=7))
    """

    name = "power_of_two"

    def choose(self, candidates: Sequence[AgentInfo]) -> AgentInfo:
        if len(candidates) == 1:
            return candidates[0]
        first, second = self._rng.sample(candidates, 2)
        return first if _load_key(first) <= _load_key(second) else second


POLICIES: dict[str, type[BalancingPolicy]] = {
    cls.name: cls for cls in (LeastLoaded, RoundRobin, RandomChoice, PowerOfTwoChoices)
}


def make_policy(spec: BalancingPolicy | str, seed: Optional[int] = None) -> BalancingPolicy:
    """A policy object from itself or its name (``seed`` goes to the random ones)."""
    if isinstance(spec, BalancingPolicy):
        return spec
    try:
        cls = POLICIES[spec]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown load-balancing policy {spec!r}; use one of {', '.join(POLICIES)} "
            "or a BalancingPolicy object"
        ) from None
    return cls(seed) if issubclass(cls, RandomChoice) else cls()
