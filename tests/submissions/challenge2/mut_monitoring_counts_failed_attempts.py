# criterion: monitoring -- get_stats() counts failed attempts as completed.
from course_lib.solutions.challenge2_agents import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from course_lib.solutions.challenge2_agents import Coordinator as _Learner


class Coordinator(_Learner):
    def on_result(self, info, content):
        record = self.tasks.get(content["task_id"])
        counts = record is not None and not record["done"] and record["agent"] == info.id \
            and record["attempt"] == content["attempt"] and content["error"] is not None
        super().on_result(info, content)
        self.completed += counts
