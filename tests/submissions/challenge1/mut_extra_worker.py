# criterion: concurrency_timeout -- one more task than max_workers runs at once.
from _mutant import Correct, Task, TaskStatus  # noqa: F401


class SmartScheduler(Correct):
    def __init__(self, max_workers=5, **kwargs):
        super().__init__(max_workers, **kwargs)
        self._free_slots = list(range(max_workers + 1))
