# criterion: retry -- spins forever (a real, CPU-bound hang) when a retry is due.
from _mutant import Correct, Task, TaskStatus  # noqa: F401


class SmartScheduler(Correct):
    def _back_off(self, node, attempt, exc, now):
        while True:
            pass
