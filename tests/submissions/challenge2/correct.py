"""course_lib.agents wrapped as a learner's submission of challenge 2.

The grader starts ``agent.run()`` itself and crashes an agent by cancelling
that task; course_lib's coordinator starts each agent's loop on its own.
This wrapper bridges the two: its ``run()`` waits while the coordinator's
loop works, and turns its own cancellation into ``agent.crash()``.
"""
import asyncio

from course_lib.agents import AgentCapability, AgentInfo, Coordinator, Message, MessageType  # noqa: F401
from course_lib.agents import BaseAgent as _LibraryAgent


class BaseAgent(_LibraryAgent):
    async def run(self):
        if asyncio.current_task() is self._task:  # started by the coordinator: the real loop
            return await super().run()
        try:
            await asyncio.get_running_loop().create_future()  # the coordinator runs the real loop
        except asyncio.CancelledError:
            if self.running:
                self.crash()
            raise
