# criterion: retry -- sleeps out its backoff in the worker slot (the chapter's bug 5).
import asyncio

from course_lib.solutions.challenge1_scheduler import SmartScheduler as Solution, Task, TaskStatus  # noqa: F401


class SmartScheduler(Solution):
    async def _back_off(self, task, delay):
        task.status = TaskStatus.PENDING
        await asyncio.sleep(delay)
        task.status = TaskStatus.RUNNING
