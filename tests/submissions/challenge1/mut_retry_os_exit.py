# criterion: retry -- kills the interpreter when a task runs out of retries.
import os

from _mutant import Correct, Task, TaskStatus  # noqa: F401


class SmartScheduler(Correct):
    def _end(self, node, status, **kwargs):
        if status is TaskStatus.FAILED and node.task.attempts and len(node.task.attempts) > 1:
            os._exit(3)
        super()._end(node, status, **kwargs)
