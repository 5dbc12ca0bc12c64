# criterion: fault_tolerance -- silence is never noticed, so a crashed agent keeps its task.
from correct import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from correct import Coordinator as _Correct


class Coordinator(_Correct):
    def __init__(self, **kwargs):
        super().__init__(heartbeat_timeout=1000.0, **kwargs)
