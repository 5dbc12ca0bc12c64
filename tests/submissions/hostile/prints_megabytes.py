# prints megabytes at import
from course_lib import SmartScheduler, Task, TaskStatus  # noqa: F401

for _ in range(100_000):
    print("debug " * 20)
