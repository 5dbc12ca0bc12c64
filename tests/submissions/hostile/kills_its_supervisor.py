# hostile: kills the process that watches it, then leaves a sleeper behind.
import os
import signal
import subprocess

from course_lib import SmartScheduler, Task, TaskStatus  # noqa: F401

subprocess.Popen(["sleep", "2471.0"], start_new_session=True)
os.kill(os.getppid(), signal.SIGKILL)
