# criterion: priority -- equal priorities run last-in first-out.
from heapq import heappush
from _mutant import Correct, Task, TaskStatus  # noqa: F401


class SmartScheduler(Correct):
    def _push_ready(self, node):
        heappush(self._ready, (node.task.priority, -node.seq, node.task.id))
