# criterion: monitoring -- get_stats() reports tasks handed out as completed.
from course_lib.solutions.challenge2_agents import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from course_lib.solutions.challenge2_agents import Coordinator as _Learner


class Coordinator(_Learner):
    def send_to(self, info, task_id, record):
        super().send_to(info, task_id, record)
        if record["attempt"] == 1:
            self.completed += 1

    def on_result(self, info, content):
        before = self.completed
        super().on_result(info, content)
        self.completed = before  # already counted when it was handed out
