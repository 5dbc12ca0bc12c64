# hostile: writes a file outside the grader's scratch folder (its path comes from a file next to it).
from pathlib import Path

from course_lib import SmartScheduler, Task, TaskStatus  # noqa: F401

target = Path(__file__).with_name("outside-target.txt")
if target.exists():
    Path(target.read_text().strip()).write_text("written by a submission\n")
