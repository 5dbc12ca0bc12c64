"""Autograder speed: one submission, and a class of 40 with hostile files, on this machine.

    python bench/bench_grading.py           # add --quick for a smoke run

Baseline: the same scenarios observed and judged in-process, with no
subprocess isolation, measured in the same run; the ratio is the price of
isolation (a supervisor and a fresh interpreter per check).  Targets: one
submission under 3 s, a class of 40 (correct files, mutants, forgeries and
hostile files) under 90 s, on 2 cores.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from course_lib.grading import grade_batch, grade_file
from course_lib.grading.grader import grading_seed
from course_lib.grading.rubric import CheckFailed
from course_lib.grading.submissions import criteria_for

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "submissions"
HOSTILE = ["import_loop", "import_exit", "deadlock", "prints_megabytes", "memory_hog", "fork_bomb",
           "leaves_processes", "kills_its_supervisor", "result_is_a_directory", "deletes_its_files"]


def in_process(path: Path, challenge: int) -> float:
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("baseline_submission", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seed = grading_seed(path)
    started = time.perf_counter()
    for criterion in criteria_for(challenge):
        for check in criterion.checks:
            params = check.scenario(random.Random(f"{seed}:{criterion.key}.{check.key}"))
            try:
                check.judge(params, check.observe(module, params))
            except CheckFailed:
                pass
    return time.perf_counter() - started


def class_of(size: int, folder: Path) -> None:
    """Correct files, every mutant, every forgery, the hostile files; challenge 1."""
    mutants = sorted((SUBMISSIONS / "challenge1").glob("mut_*.py"))
    forgeries = [p for p in sorted((SUBMISSIONS / "forgeries").glob("*.py")) if "agents" not in p.stem]
    hostile = [SUBMISSIONS / "hostile" / f"{name}.py" for name in HOSTILE]
    pool = mutants + forgeries + hostile
    pool += [SUBMISSIONS / "challenge1" / "correct.py"] * max(0, size - len(pool))
    shutil.copy(SUBMISSIONS / "challenge1" / "_mutant.py", folder / "_mutant.py")
    for i, source in enumerate(pool[:size]):
        shutil.copy(source, folder / f"learner{i:02d}.py")


def main(quick: bool) -> None:
    jobs = os.cpu_count() or 2
    rows = []
    for challenge in (1, 2):
        correct = SUBMISSIONS / f"challenge{challenge}" / "correct.py"
        base = in_process(correct, challenge)
        started = time.perf_counter()
        report = grade_file(correct, challenge, jobs=jobs)
        one = time.perf_counter() - started
        assert report.total == 100, report.text()
        checks = sum(len(c.checks) for c in report.criteria)
        rows.append(f"| one correct submission, challenge {challenge} ({checks} checks) | {base:.2f} s "
                    f"| {one:.2f} s | {one / base:.1f}x | < 3 s |")
    size = 3 if quick else 40
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "class", Path(tmp) / "out"
        folder.mkdir()
        class_of(size, folder)
        started = time.perf_counter()
        with open(os.devnull, "w") as quiet:
            reports = grade_batch(folder, out, challenge=1, jobs=jobs, progress=quiet)
        batch = time.perf_counter() - started
    rows.append(f"| class of {len(reports)} (correct, mutants, forgeries, hostile) | - | {batch:.1f} s | - "
                f"| < 90 s |")
    print(f"\nAutograder, {jobs} cores\n")
    print("| workload | in-process baseline | isolated grader | ratio | target |")
    print("|---|---:|---:|---:|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main("--quick" in sys.argv[1:])
