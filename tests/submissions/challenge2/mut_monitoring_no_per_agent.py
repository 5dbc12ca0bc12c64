# criterion: monitoring -- get_stats() has no per-agent counts.
from correct import AgentCapability, AgentInfo, BaseAgent, Message, MessageType  # noqa: F401
from correct import Coordinator as _Correct


class Coordinator(_Correct):
    def get_stats(self):
        stats = super().get_stats()
        stats["agents"] = {}
        return stats
