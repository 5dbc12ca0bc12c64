# hostile: writes a file outside the grader's scratch folder (its path comes from a file in its folder).
import sys
from pathlib import Path

from course_lib import SmartScheduler, Task, TaskStatus  # noqa: F401

target = Path(sys.path[0]) / "outside-target.txt"  # the grader runs a copy; its folder is on the path
if target.exists():
    Path(target.read_text().strip()).write_text("written by a submission\n")
