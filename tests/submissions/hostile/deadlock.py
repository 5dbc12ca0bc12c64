# run() waits for an event nobody sets
import asyncio

from course_lib import Task, TaskStatus  # noqa: F401


class SmartScheduler:
    def __init__(self, max_workers=5):
        self.tasks = {}

    async def add_task(self, task):
        self.tasks[task.id] = task
        return task.id

    async def run(self):
        await asyncio.Event().wait()

    def get_stats(self):
        return {}
