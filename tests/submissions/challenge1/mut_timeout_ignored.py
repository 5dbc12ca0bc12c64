# criterion: concurrency_timeout -- timeouts are never applied.
from _mutant import Correct, Task, TaskStatus  # noqa: F401


class SmartScheduler(Correct):
    async def add_task(self, task):
        task.timeout = None
        return await super().add_task(task)
