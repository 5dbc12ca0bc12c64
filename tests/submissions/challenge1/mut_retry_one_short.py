# criterion: retry -- one attempt fewer than 1 + max_retries.
from _mutant import Correct, Task, TaskStatus  # noqa: F401


class SmartScheduler(Correct):
    def _should_retry(self, task, outcome, exc):
        return len(task.attempts) < task.max_retries and super()._should_retry(task, outcome, exc)
