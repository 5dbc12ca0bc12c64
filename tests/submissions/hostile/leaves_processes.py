# hostile: starts processes that would outlive the check: plain forks, a double-forked setsid()
# daemon, and one that drops the environment; each runs "sleep" with a marker argument.
import os
import subprocess

from course_lib import SmartScheduler, Task, TaskStatus  # noqa: F401

MARK = "2471.0"  # sleep 2471 seconds: the test looks for this argument


def _daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", MARK])
        os._exit(0)


for _ in range(3):
    subprocess.Popen(["sleep", MARK])
_daemon()
if os.fork() == 0:
    os.execve("/bin/sleep", ["sleep", MARK], {})  # no marker in its environment
