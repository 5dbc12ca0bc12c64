# criterion: registration -- AgentInfo.tasks_completed is never updated (the stats keep their own count).
from course_lib.solutions.challenge2_agents import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from course_lib.solutions.challenge2_agents import Coordinator as _Learner


class Coordinator(_Learner):
    def on_result(self, info, content):
        before = info.tasks_completed
        super().on_result(info, content)
        info.tasks_completed = before
