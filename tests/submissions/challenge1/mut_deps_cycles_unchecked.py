# criterion: dependencies -- cycles and unknown ids are not rejected.
from _mutant import Correct, Task, TaskStatus  # noqa: F401


class SmartScheduler(Correct):
    def _check_graph(self, ids, extra=None):
        for tid in ids:
            for dep in self._nodes[tid].deps:
                if dep not in self._nodes:
                    raise KeyError(dep)  # the wrong error, and only after a look
        return None
