# criterion: monitoring -- the status counts leave out the states with no tasks.
from _mutant import Correct, Task, TaskStatus  # noqa: F401


class SmartScheduler(Correct):
    def get_stats(self):
        stats = super().get_stats()
        stats["status"] = {k: v for k, v in stats["status"].items() if v}
        return stats
