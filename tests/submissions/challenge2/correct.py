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
    def _launch(self):
        # The coordinator starts the library's loop; run() below is the grader's.
        self._task = asyncio.get_running_loop().create_task(_LibraryAgent.run(self), name=f"agent {self.id}")
        self.running = True
        return self._task

    async def run(self):
        try:
            await asyncio.get_running_loop().create_future()  # the coordinator runs the real loop
        except asyncio.CancelledError:
            if self.running:
                self.crash()
            raise
