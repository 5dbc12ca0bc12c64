# A scheduler that wakes up every 0.1 s to start tasks instead of at the end of each task.
import asyncio

from course_lib.solutions.challenge1_scheduler import SmartScheduler as Solution, Task, TaskStatus  # noqa: F401


class SmartScheduler(Solution):
    def _start_ready(self):
        if getattr(self, "_polling", False):
            super()._start_ready()

    async def run(self):
        self._polling = True
        poller = asyncio.ensure_future(self._poll())
        try:
            return await super().run()
        finally:
            poller.cancel()

    async def _poll(self):
        while True:
            self._polling = True
            super()._start_ready()
            self._polling = False
            await asyncio.sleep(0.1)
