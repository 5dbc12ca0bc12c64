# criterion: monitoring -- "failed" leaves out timed-out tasks.
from _mutant import Correct, Task, TaskStatus  # noqa: F401


class SmartScheduler(Correct):
    def get_stats(self):
        stats = super().get_stats()
        stats["failed"] -= stats["status"]["timeout"]
        return stats
