# criterion: fault_tolerance -- a task that keeps failing is retried forever.
from course_lib.solutions.challenge2_agents import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from course_lib.solutions.challenge2_agents import Coordinator as _Learner


class Coordinator(_Learner):
    def on_result(self, info, content):
        record = self.tasks.get(content["task_id"])
        if record is not None:
            record["failures"] = 0  # never reaches the limit
        super().on_result(info, content)
