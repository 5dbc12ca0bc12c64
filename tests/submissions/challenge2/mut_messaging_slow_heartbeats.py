# criterion: messaging -- heartbeats only every 2.5 s.
from correct import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from correct import Coordinator as _Correct


class Coordinator(_Correct):
    def __init__(self, **kwargs):
        super().__init__(heartbeat_interval=2.5, heartbeat_timeout=3.0, **kwargs)
