# criterion: dependencies -- dependency results are never passed to the function.
from _mutant import Correct, Task, TaskStatus  # noqa: F401


class SmartScheduler(Correct):
    async def add_task(self, task):
        func = task.func

        async def without_results(*_args, **_kwargs):
            return await func()

        task.func = without_results
        return await super().add_task(task)
