# criterion: monitoring -- an agent's status stays "busy" after its first task.
from course_lib.solutions.challenge2_agents import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from course_lib.solutions.challenge2_agents import Coordinator as _Learner


class Coordinator(_Learner):
    def on_result(self, info, content):
        super().on_result(info, content)
        if info.status == "idle":
            info.status = "busy"
