# criterion: fault_tolerance -- a late answer from an agent thought dead is accepted and counted again.
from course_lib.solutions.challenge2_agents import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from course_lib.solutions.challenge2_agents import Coordinator as _Learner


class Coordinator(_Learner):
    def on_result(self, info, content):
        record = self.tasks.get(content["task_id"])
        if record is not None and content["error"] is None and record["done"]:
            self.results[content["task_id"]] = content["result"]
            info.tasks_completed += 1
            self.done_by[info.id] = self.done_by.get(info.id, 0) + 1
            self.completed += 1
            return
        if record is not None:
            record["agent"], record["attempt"] = info.id, content["attempt"]  # whoever answers counts
        super().on_result(info, content)
