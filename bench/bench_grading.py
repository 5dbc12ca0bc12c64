"""Autograder speed: one submission, and a class of 30, on this machine.

    python bench/bench_grading.py

Baseline: the same checks called in-process, with no subprocess isolation,
measured in the same run; the ratio is the price of isolation.  Targets:
one submission under 20 s, a batch of 30 under 2 minutes on 2 cores.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from course_lib.grading import grade_batch, grade_file
from course_lib.grading.rubric import CheckFailed
from course_lib.grading.submissions import criteria_for

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "submissions"


def in_process(path: Path) -> float:
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("baseline_submission", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    started = time.perf_counter()
    for criterion in criteria_for(1):
        for check in criterion.checks:
            try:
                check.run(module)
            except CheckFailed:
                pass
    return time.perf_counter() - started


def class_of_30(folder: Path) -> None:
    mutants = sorted((SUBMISSIONS / "challenge1").glob("mut_*.py"))
    hostile = [SUBMISSIONS / "hostile" / f"{n}.py" for n in ("import_loop", "import_exit", "deadlock")]
    pool = [SUBMISSIONS / "challenge1" / "correct.py"] * 14 + mutants + hostile
    shutil.copy(SUBMISSIONS / "challenge1" / "_mutant.py", folder / "_mutant.py")
    for i, source in enumerate(pool[:30]):
        shutil.copy(source, folder / f"learner{i:02d}.py")


def main() -> None:
    correct = SUBMISSIONS / "challenge1" / "correct.py"
    base = in_process(correct)
    started = time.perf_counter()
    report = grade_file(correct, 1, jobs=os.cpu_count() or 2)
    one = time.perf_counter() - started
    assert report.total == 100
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "class", Path(tmp) / "out"
        folder.mkdir()
        class_of_30(folder)
        started = time.perf_counter()
        with open(os.devnull, "w") as quiet:
            reports = grade_batch(folder, out, challenge=1, jobs=os.cpu_count() or 2, progress=quiet)
        batch = time.perf_counter() - started
    print(f"\nAutograder, challenge 1, {os.cpu_count()} cores\n")
    print("| workload | in-process baseline | isolated grader | ratio | target |")
    print("|---|---:|---:|---:|---|")
    print(f"| one correct submission (16 checks) | {base:.2f} s | {one:.2f} s | {one / base:.1f}x | < 20 s |")
    print(f"| class of {len(reports)} (correct, mutants, 3 hostile) | - | {batch:.1f} s | - | < 120 s |")


if __name__ == "__main__":
    main()
