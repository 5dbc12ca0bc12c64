"""In-process hosting: agents that live in the coordinator's own process.

``await agent.connect(coordinator)`` hands the agent to the coordinator's
`LocalHost`, which attaches it to the coordinator's bus and runs its `run`
loop as an asyncio task while the coordinator runs.  The agent still talks
only through the bus; the host merely starts and stops it, and passes its
fault-injection notes (crash, pause) to the coordinator's event log.

Agents in other processes need no host: they `attach` a bus themselves
(``python -m course_lib.agents worker``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..i18n import Reason
from .agent import BaseAgent, current_agent
from .bus import MessageBus
from .protocol import new_token
from .types import EventKind, error_summary

__all__ = ["LocalHost"]


class LocalHost:
    """Starts, stops and watches the agents hosted in this process.

    ``note(agent_id, kind, reason)`` receives their faults: the fault hooks'
    CRASH, PAUSE and RESUME, and a CRASH when a `run` loop raises.
    """

    def __init__(self, *, note: Callable[[str, EventKind, Reason], Any]) -> None:
        self.agents: dict[str, BaseAgent] = {}
        self._runners: dict[str, asyncio.Task] = {}
        self._unsubscribe: dict[str, Callable[[], Any]] = {}
        self._note = note

    def add(self, agent: BaseAgent, bus: MessageBus, coordinator_id: str,
            heartbeat_interval: float) -> None:
        """Attach *agent* to *bus*; it starts with `start`."""
        agent.attach(bus, coordinator_id, heartbeat_interval=heartbeat_interval,
                     request_prefix=agent.id, incarnation=new_token())
        self.agents[agent.id] = agent
        self._unsubscribe[agent.id] = agent.on_fault(
            lambda kind, reason, agent_id=agent.id: self._note(agent_id, kind, reason))

    def start(self, agent_id: str) -> None:
        """Run the agent's loop in a task, or adopt the one its user started."""
        runner = self._runners[agent_id] = self.agents[agent_id].start()
        runner.add_done_callback(lambda task: self._ended(agent_id, task))

    def start_all(self) -> None:
        for agent_id in self.agents:
            self.start(agent_id)

    async def remove(self, agent_id: str) -> None:
        """Stop the agent and forget it.  Called from inside the agent itself,
        its loop stops at its next wait instead (waiting would be waiting for itself)."""
        agent = self.agents.pop(agent_id)
        self._unsubscribe.pop(agent_id)()
        runner = self._runners.pop(agent_id, None)
        if runner is not None:
            runner.cancel()
            if current_agent() is not agent:
                await asyncio.gather(runner, return_exceptions=True)
        agent.coordinator = None

    async def stop_all(self) -> None:
        """Stop every hosted agent's loop and wait until they have stopped."""
        runners = list(self._runners.values())
        self._runners.clear()
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)

    def _ended(self, agent_id: str, runner: asyncio.Task) -> None:
        if not runner.cancelled() and runner.exception() is not None:
            self._note(agent_id, EventKind.CRASH,
                       Reason("its run() loop raised {error}", error=error_summary(runner.exception())))
