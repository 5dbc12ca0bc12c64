"""The grader against submissions that lie, sabotage or try to outlive their check.

Forgeries must score 0; hostile files must not change anyone else's result
or stop the batch; no process a submission started may outlive its check.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.grading import Limits, grade_batch, grade_file
from course_lib.grading.grader import grading_seed
from course_lib.grading.sandbox import bubblewrap_works

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
FORGERIES = sorted((SUBMISSIONS / "forgeries").glob("*.py"))
HOSTILE = SUBMISSIONS / "hostile"
CORRECT = SUBMISSIONS / "challenge1" / "correct.py"
SLEEPER = b"sleep\x002471.0\x00"  # the marker argument of the hostile files' sleepers
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux /proc")


def _sleepers():
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if cmdline.read() == SLEEPER:
                    found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("forgery", FORGERIES, ids=lambda p: p.stem)
def test_every_known_forgery_scores_zero(forgery):
    before = forgery.read_bytes()
    report = grade_file(forgery)
    assert report.total == 0, report.text()
    assert forgery.read_bytes() == before  # it ran a copy: the learner's file never changes


@linux_only
@pytest.mark.parametrize("name", ["leaves_processes", "fork_bomb", "kills_its_supervisor"])
def test_no_process_a_submission_started_outlives_its_check(name):
    assert _sleepers() == [], "sleepers left over from before this test"
    report = grade_file(HOSTILE / f"{name}.py", 1, jobs=2)
    assert report.criteria  # graded, not crashed
    assert _sleepers() == []
    if name == "kills_its_supervisor":  # no race decides its score: it gets 0, for one reason
        assert report.total == 0 and "监督进程被终止" in report.common_reason()


def test_files_written_outside_the_scratch_folder_are_noted(tmp_path):
    submission, target = tmp_path / "sub" / "writes_outside.py", tmp_path / "outside.txt"
    submission.parent.mkdir()
    shutil.copy(HOSTILE / "writes_outside.py", submission)
    (submission.parent / "outside-target.txt").write_text(str(target))
    report = grade_file(submission, 1)
    assert report.total == 100
    assert any(str(target) in note for note in report.notes), report.notes


@pytest.mark.skipif(not bubblewrap_works() and os.environ.get("CI") != "true",
                    reason="needs bubblewrap (apt-get install bubblewrap)")
def test_the_sandbox_keeps_the_file_system_read_only(tmp_path):
    submission, target = tmp_path / "sub" / "writes_outside.py", tmp_path / "outside.txt"
    submission.parent.mkdir()
    shutil.copy(HOSTILE / "writes_outside.py", submission)
    (submission.parent / "outside-target.txt").write_text(str(target))
    report = grade_file(submission, 1, limits=Limits(sandbox=True))
    assert not target.exists()
    assert report.total == 0 and "Read-only file system" in report.criteria[0].checks[0].reason
    assert grade_file(CORRECT, 1, limits=Limits(sandbox=True)).total == 100


@pytest.mark.skipif(not bubblewrap_works() and os.environ.get("CI") != "true",
                    reason="needs bubblewrap (apt-get install bubblewrap)")
def test_a_batch_from_the_command_line_survives_a_file_that_kills_the_grader(tmp_path):
    batch, out = tmp_path / "class", tmp_path / "out"
    batch.mkdir()
    shutil.copy(SUBMISSIONS / "escapes" / "kills_the_grader.py", batch / "mallory.py")
    shutil.copy(CORRECT, batch / "alice.py")
    done = subprocess.run([sys.executable, "-m", "course_lib.grading", "--batch", str(batch), "--out", str(out),
                           "--challenge", "1"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warning" not in done.stderr  # the sandbox is on by default where it works
    with open(out / "gradebook.csv", encoding="utf-8") as handle:
        rows = {row["learner"]: row["total"] for row in csv.DictReader(handle)}
    assert rows == {"alice": "100", "mallory": "0"}


def test_the_instructors_salt_changes_the_scenarios_and_never_reaches_the_child(tmp_path, monkeypatch):
    assert grading_seed(CORRECT, "one") != grading_seed(CORRECT, "two")
    assert grading_seed(CORRECT, "one") == grading_seed(CORRECT, "one")
    spy = tmp_path / "spy.py"
    spy.write_text("import os\nassert 'COURSE_GRADER_SALT' not in os.environ, 'the salt leaked'\n"
                   + CORRECT.read_text())
    monkeypatch.setenv("COURSE_GRADER_SALT", "instructor secret")
    assert grade_file(spy, 1).total == 100


def test_importing_the_finished_library_is_noted_without_taking_points():
    report = grade_file(CORRECT, 1)
    assert report.total == 100
    assert report.notes == ["这份作业导入了课程自带的完整实现 course_lib.scheduler：请确认代码是自己写的"]
    assert grade_file(ROOT / "course_lib" / "solutions" / "challenge2_agents.py", 2).notes == []


def test_an_import_built_at_run_time_is_noted_too(tmp_path):
    hidden = tmp_path / "challenge1_scheduler.py"  # no library name appears in the text
    hidden.write_text("import importlib, sys\n"
                      "sys.modules['__main__'].library_part = lambda name: None\n"  # the child's own helper
                      "_lib = importlib.import_module('.'.join(['course_lib', 'sched' + 'uler']))\n"
                      "SmartScheduler, Task = _lib.SmartScheduler, _lib.Task\n"
                      "class SmartScheduler(SmartScheduler):\n    pass\n")
    report = grade_file(hidden, 1)
    assert report.total == 100
    assert report.notes == ["这份作业导入了课程自带的完整实现 course_lib.scheduler：请确认代码是自己写的"]


def test_a_hostile_class_finishes_with_a_row_for_every_learner(tmp_path):
    batch = tmp_path / "class"
    batch.mkdir()
    for source in [*HOSTILE.glob("*.py"), *FORGERIES]:
        shutil.copy(source, batch / source.name)
    shutil.copy(CORRECT, batch / "alice.py")
    (batch / "alice").mkdir()  # the same learner name twice: a folder and a file
    shutil.copy(SUBMISSIONS / "challenge1" / "mut_priority_reversed.py",
                batch / "alice" / "challenge1_scheduler.py")
    shutil.copy(SUBMISSIONS / "challenge1" / "_mutant.py", batch / "alice" / "_mutant.py")
    out = tmp_path / "out"
    with open(os.devnull, "w") as quiet:
        reports = grade_batch(batch, out, challenge=1, jobs=2, progress=quiet)
    with open(out / "gradebook.csv", encoding="utf-8") as handle:
        rows = {row["learner"]: row for row in csv.DictReader(handle)}
    entries = [p for p in batch.iterdir() if p.suffix == ".py" or p.is_dir()]
    assert len(rows) == len(entries) == len(reports)
    assert int(rows["alice"]["priority"]) < 20 and rows["alice-2"]["total"] == "100"
    assert "同名" in rows["alice-2"]["notes"] and "同名" not in rows["alice"]["notes"]
    assert {p.stem for p in (out / "feedback").iterdir()} == set(rows)
    for forgery in FORGERIES:
        assert rows[forgery.stem]["total"] == "0"


def test_gradescope_results_json(tmp_path):
    run = subprocess.run([sys.executable, "-m", "course_lib.grading", "--format", "gradescope",
                          str(SUBMISSIONS / "challenge1" / "mut_timeout_ignored.py")],
                         capture_output=True, text=True, check=True)
    results = json.loads(run.stdout)
    assert results["score"] == 93
    assert len(results["tests"]) == 18
    assert all(set(test) == {"name", "score", "max_score", "output"} for test in results["tests"])
    failed = [t for t in results["tests"] if t["score"] < t["max_score"]]
    assert len(failed) == 1 and failed[0]["output"].startswith("原因：")
