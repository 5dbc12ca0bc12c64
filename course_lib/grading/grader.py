"""Grade one submission, or a folder of them, against the chapter's rubric.

The verdict is computed here, where a submission cannot reach it.  For each
check the grader draws the scenario's parameters (task ids, durations,
priorities) from a seed, has a child process run the submission on them and
report raw observations (sandbox.py), and judges those observations against
expectations the child never sees.  The seed is derived from the
submission's content and an instructor's secret salt, so the same file
always gets the same score, yet no file can know its scenarios in advance.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, TextIO

from .rubric import Check, CheckFailed, CheckResult, CriterionResult, Report
from .sandbox import Limits, Run, run_check
from .submissions import (criteria_for, detect_challenge, library_note, library_part,
                          resolve_submission)

__all__ = ["DEFAULT_SALT", "SALT_VARIABLE", "grade_batch", "grade_file", "grading_seed"]

SALT_VARIABLE = "COURSE_GRADER_SALT"
DEFAULT_SALT = "course_lib self-check"  # learners' self-checks; instructors set their own


def grading_seed(source: Path, salt: Optional[str] = None) -> str:
    """The seed of every scenario for *source*: its content hashed with the salt."""
    salt = salt if salt is not None else os.environ.get(SALT_VARIABLE) or DEFAULT_SALT
    return hashlib.sha256(salt.encode() + b"\0" + source.read_bytes()).hexdigest()


def grade_file(path: Path | str, challenge: Optional[int] = None, *, limits: Limits = Limits(),
               jobs: int = 2, salt: Optional[str] = None, only: Optional[str] = None) -> Report:
    """Run every check of the rubric on one submission (each in its own subprocess).

    *salt* (default: the COURSE_GRADER_SALT environment variable, else a
    fixed self-check salt) keys the scenarios; keep the instructor's secret.
    *only* names one criterion (``"priority"``, say) to grade that one alone,
    as the notebooks do after each stage of a challenge.
    """
    source = resolve_submission(Path(path), challenge)
    challenge = challenge or detect_challenge(source)
    seed = grading_seed(source, salt)
    criteria = criteria_for(challenge)
    if only is not None:
        keys = [c.key for c in criteria]
        if only not in keys:
            raise ValueError(f"challenge {challenge} has no criterion {only!r}; choose one of {', '.join(keys)}")
        criteria = tuple(c for c in criteria if c.key == only)
    checks = [(f"{c.key}.{check.key}", check) for c in criteria for check in c.checks]
    notes = library_imports(source)

    def one(item: tuple[str, Check]) -> tuple[bool, str, list[str], bool]:
        key, check = item
        params = check.scenario(random.Random(f"{seed}:{key}"))
        run = run_check(source, challenge, key, params, limits)
        return (*judge(check, params, run), run.report.notes + _library_used(run.report.modules),
                run.report.imported)

    # The first check runs alone: a file that hangs, exits or fails at import
    # loses every check for that one reason, without paying the time limit
    # for each of them.
    first = one(checks[0])
    if not first[3]:
        outcomes = [first] * len(checks)
    else:
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            outcomes = [first, *pool.map(one, checks[1:])]
    report = Report(challenge, Path(path).name)
    results = iter(outcomes)
    for criterion in criteria:
        row = CriterionResult(criterion.key, criterion.name, todo=criterion.todo)
        for check in criterion.checks:
            passed, reason, check_notes, _ = next(results)
            notes += check_notes
            row.checks.append(CheckResult(check.name, passed, check.points if passed else 0,
                                          check.points, reason))
        report.criteria.append(row)
    report.notes = list(dict.fromkeys(notes))
    return report


def judge(check: Check, params: dict, run: Run) -> tuple[bool, str]:
    """``(passed, reason)`` for one check's run; the judging happens here, not in the child."""
    if run.failure:
        return False, run.failure
    if not run.report.ok:
        return False, run.report.reason
    try:
        check.judge(params, run.report.observations)
    except CheckFailed as failure:
        return False, str(failure)
    except Exception as exc:  # noqa: BLE001 - observations come from an untrusted process
        return False, (f"检查进程报告的观测数据不完整或格式不对（{type(exc).__name__}）："
                       "可能是你的代码改动了评分用的代码")
    return True, ""


def _library_used(modules: list[str]) -> list[str]:
    """Notes for the finished solutions among the modules a check process loaded.

    The grading code loads neither, so they came from the submission,
    however it spelled the import.
    """
    return [library_note(part) for part in sorted({library_part(name) for name in modules} - {None})]


def library_imports(source: Path) -> list[str]:
    """Notes for a submission whose text imports the finished library instead of solving the exercise.

    This reads the file; `_library_used` also notes the modules it really
    loaded, which catches imports built at run time.
    """
    from ..scheduler import __all__ as scheduler_names

    try:
        tree = ast.parse(source.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError):
        return []
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            if node.module == "course_lib" and {a.name for a in node.names} & set(scheduler_names):
                found.add("course_lib.scheduler")  # from course_lib import SmartScheduler
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]  # importlib.import_module("course_lib.agents"), say
        found |= {part for part in map(library_part, names) if part}
    return [library_note(part) for part in sorted(found)]


def grade_batch(folder: Path | str, out: Path | str, challenge: Optional[int] = None, *,
                jobs: int = 2, limits: Limits = Limits(), salt: Optional[str] = None,
                progress: TextIO = sys.stderr) -> list[Report]:
    """Grade every submission in *folder* (a .py file or a folder per learner).

    Names starting with ``_`` or ``.`` are skipped (shared helper modules).
    Nothing one submission does stops the batch: a file that cannot be graded
    gets a row and feedback saying why.  Two entries with one name
    (``alice.py`` and ``alice/``) get distinct names, and their reports say so.

    Writes ``gradebook.csv`` (one row per learner, one column per criterion,
    the total and notes) and ``feedback/<learner>.txt`` into *out*.
    """
    folder, out = Path(folder), Path(out)
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith(("_", "."))
                     and ((p.is_file() and p.suffix == ".py") or p.is_dir()))
    names = learner_names(entries)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    done = 0

    def one(entry: Path) -> Report:
        nonlocal done
        try:
            report = grade_file(entry, challenge, limits=limits, jobs=1, salt=salt)
        except Exception as exc:  # noqa: BLE001 - one learner's file must not stop the batch
            report = Report(challenge or 0, entry.name, error=f"{type(exc).__name__}: {exc}")
        if names[entry] != entry.stem:
            report.notes.insert(0, f"和另一份作业同名（{entry.stem}），这一份记作 {names[entry]}")
        done += 1
        _progress(progress, done, len(entries), time.monotonic() - started)
        return report

    # One file more than cores: a file waiting out a hang's wall limit leaves its core idle.
    with ThreadPoolExecutor(max(1, jobs) + 1) as pool:
        reports = list(pool.map(one, entries))
    progress.write("\n")
    keys = _criterion_keys(reports)
    with open(out / "gradebook.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["learner", *keys, "total", "max", "notes"])
        for entry, report in zip(entries, reports):
            points = {c.key: c.points for c in report.criteria}
            writer.writerow([names[entry], *(points.get(k, 0) for k in keys), report.total, report.max,
                             "; ".join(([report.error] if report.error else []) + report.notes)])
    for entry, report in zip(entries, reports):
        (out / "feedback" / f"{names[entry]}.txt").write_text(report.text() + "\n", encoding="utf-8")
    return reports


def learner_names(entries: list[Path]) -> dict[Path, str]:
    """A distinct name per entry: its stem, then ``stem-2``, ``stem-3``... for repeats."""
    names: dict[Path, str] = {}
    taken: set[str] = set()
    for entry in entries:
        name, n = entry.stem, 1
        while name in taken:
            n += 1
            name = f"{entry.stem}-{n}"
        taken.add(name)
        names[entry] = name
    return names


def _criterion_keys(reports: list[Report]) -> list[str]:
    for report in reports:
        if report.criteria:
            return [c.key for c in report.criteria]
    return []


def _progress(stream: TextIO, done: int, total: int, elapsed: float) -> None:
    width = 30
    filled = round(width * done / max(total, 1))
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} submissions, {elapsed:.0f} s")
    stream.flush()
