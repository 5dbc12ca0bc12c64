# criterion: retry -- backoff grows linearly (retry_delay * k) like the chapter's reference.
from _mutant import Correct, Task, TaskStatus  # noqa: F401


class SmartScheduler(Correct):
    def _back_off(self, node, attempt, exc, now):
        k = attempt.number
        saved = node.task.retry_delay
        node.task.retry_delay = saved * k / 2.0 ** (k - 1)
        try:
            super()._back_off(node, attempt, exc, now)
        finally:
            node.task.retry_delay = saved
