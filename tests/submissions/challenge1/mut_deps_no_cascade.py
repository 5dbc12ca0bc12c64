# criterion: dependencies -- a failed upstream leaves its dependents waiting forever.
from _mutant import Correct, Task, TaskStatus  # noqa: F401


class SmartScheduler(Correct):
    def _cascade(self, root, status):
        pass
