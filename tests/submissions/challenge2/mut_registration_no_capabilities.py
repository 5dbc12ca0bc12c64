# criterion: registration -- the AgentInfo card does not record the capabilities.
from correct import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from correct import Coordinator as _Correct


class Coordinator(_Correct):
    async def register_agent(self, agent):
        await super().register_agent(agent)
        self.agents[agent.id].capabilities = set()
