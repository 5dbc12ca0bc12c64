"""The reference implementation, wrapped as a learner's submission."""
from course_lib import SmartScheduler, Task, TaskStatus  # noqa: F401
