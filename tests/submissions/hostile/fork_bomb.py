# hostile: forks 200 sleeping processes at import (a bounded fork bomb).
import os

from course_lib import SmartScheduler, Task, TaskStatus  # noqa: F401

for _ in range(200):
    try:
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "2471.0"])
    except OSError:
        break
