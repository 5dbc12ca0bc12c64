# criterion: messaging -- no heartbeats while a task is being processed.
import asyncio

from course_lib.solutions.challenge2_agents import HEARTBEAT_INTERVAL, AgentCapability, AgentInfo, Coordinator, Message, MessageType  # noqa: F401
from course_lib.solutions.challenge2_agents import BaseAgent as _Learner


class BaseAgent(_Learner):
    working = False

    async def handle(self, request):
        self.working = True
        try:
            await super().handle(request)
        finally:
            self.working = False

    async def heartbeats(self):
        while True:
            if not self.working:
                await self.send_message(Message(MessageType.HEARTBEAT, self.id, "coordinator", None))
            await asyncio.sleep(HEARTBEAT_INTERVAL)
