# criterion: registration -- a new agent's card says "ready", not "idle".
from learner import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from learner import Coordinator as _Learner


class Coordinator(_Learner):
    async def register_agent(self, agent):
        await super().register_agent(agent)
        self.agents[agent.id].status = "ready"
