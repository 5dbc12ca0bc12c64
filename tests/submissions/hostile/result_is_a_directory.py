# hostile: turns the files the old grader used (result.jsonl, output.txt) into a directory and a named pipe.
import os

from course_lib import SmartScheduler, Task, TaskStatus  # noqa: F401

for name in ("result.jsonl", "output.txt"):
    try:
        os.remove(name)
    except OSError:
        pass
os.mkdir("result.jsonl")
os.mkfifo("output.txt")
