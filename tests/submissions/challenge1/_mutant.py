"""Shared by the single-bug mutants: each one overrides one piece of the real scheduler."""
from course_lib import SmartScheduler as Correct, Task, TaskStatus  # noqa: F401
