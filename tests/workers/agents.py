"""Agents that the Redis tests start in worker processes (``--agent tests.workers.agents:Squarer``)."""

import asyncio

from course_lib.agents import AgentCapability, BaseAgent


class Squarer(BaseAgent):
    """Sleeps ``task["ms"]`` milliseconds, then returns ``task["x"]`` squared."""

    def __init__(self, agent_id):
        super().__init__(agent_id, {AgentCapability.CALCULATE})

    async def process_task(self, task):
        await asyncio.sleep(task["ms"] / 1000)
        return task["x"] * task["x"]


class Sleeper(BaseAgent):
    """Sleeps ``task["seconds"]``, then says who it is (for SIGTERM and failover tests)."""

    def __init__(self, agent_id):
        super().__init__(agent_id, {AgentCapability.SEARCH})

    async def process_task(self, task):
        await asyncio.sleep(task["seconds"])
        return self.id
