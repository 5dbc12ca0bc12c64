"""Grade one submission, or a folder of them, against the chapter's rubric."""

from __future__ import annotations

import csv
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, TextIO

from .rubric import CheckResult, CriterionResult, Report
from .sandbox import Limits, run_check
from .submissions import IMPORT_ONLY, criteria_for, detect_challenge, resolve_submission

__all__ = ["grade_file", "grade_batch"]


def grade_file(path: Path | str, challenge: Optional[int] = None, *, limits: Limits = Limits(),
               jobs: int = 2) -> Report:
    """Run every check of the rubric on one submission (each in its own subprocess)."""
    source = resolve_submission(Path(path), challenge)
    challenge = challenge or detect_challenge(source)
    criteria = criteria_for(challenge)
    keys = [(c, check) for c in criteria for check in c.checks]
    # Load it once first: a file that hangs, exits or fails at import loses
    # every check for that one reason, without paying the time limit per check.
    loaded, reason = run_check(source, challenge, IMPORT_ONLY, limits)
    if not loaded:
        outcomes = [(False, reason)] * len(keys)
    else:
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            outcomes = list(pool.map(
                lambda item: run_check(source, challenge, f"{item[0].key}.{item[1].key}", limits), keys))
    report = Report(challenge, Path(path).name)
    results = iter(outcomes)
    for criterion in criteria:
        row = CriterionResult(criterion.key, criterion.name)
        for check in criterion.checks:
            passed, reason = next(results)
            row.checks.append(CheckResult(check.name, passed, check.points if passed else 0,
                                          check.points, reason))
        report.criteria.append(row)
    return report


def grade_batch(folder: Path | str, out: Path | str, challenge: Optional[int] = None, *,
                jobs: int = 2, limits: Limits = Limits(), progress: TextIO = sys.stderr) -> list[Report]:
    """Grade every submission in *folder* (a .py file or a folder per learner).

    Names starting with ``_`` or ``.`` are skipped (shared helper modules).

    Writes ``gradebook.csv`` (one row per learner, one column per criterion,
    and the total) and ``feedback/<learner>.txt`` into *out*.
    """
    folder, out = Path(folder), Path(out)
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith(("_", "."))
                     and ((p.is_file() and p.suffix == ".py") or p.is_dir()))
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    done = 0

    def one(entry: Path) -> Report:
        nonlocal done
        try:
            report = grade_file(entry, challenge, limits=limits, jobs=1)
        except (ValueError, FileNotFoundError) as exc:
            report = Report(challenge or 0, entry.name, error=str(exc))
        done += 1
        _progress(progress, done, len(entries), time.monotonic() - started)
        return report

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        reports = list(pool.map(one, entries))
    progress.write("\n")
    keys = _criterion_keys(reports)
    with open(out / "gradebook.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["learner", *keys, "total", "max"])
        for entry, report in zip(entries, reports):
            points = {c.key: c.points for c in report.criteria}
            writer.writerow([entry.stem, *(points.get(k, 0) for k in keys), report.total, report.max])
    for entry, report in zip(entries, reports):
        (out / "feedback" / f"{entry.stem}.txt").write_text(report.text() + "\n", encoding="utf-8")
    return reports


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
