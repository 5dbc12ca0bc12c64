# criterion: registration -- a new agent's card says "ready", not "idle".
from course_lib.solutions.challenge2_agents import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from course_lib.solutions.challenge2_agents import Coordinator as _Learner


class Coordinator(_Learner):
    async def register_agent(self, agent):
        await super().register_agent(agent)
        self.agents[agent.id].status = "ready"
