# criterion: dispatch_balancing -- every task goes to the search agents, whatever its type.
from correct import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from correct import Coordinator as _Correct


class Coordinator(_Correct):
    async def assign_task(self, task, **kwargs):
        if self.find_agents(AgentCapability.SEARCH):
            task = {**task, "type": AgentCapability.SEARCH}
        return await super().assign_task(task, **kwargs)
