"""Command line: ``python -m course_lib.grading SUBMISSION`` or ``--batch FOLDER``."""

from __future__ import annotations

import argparse
import json
import os
import sys

from .grader import grade_batch, grade_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading",
                                     description="Grade challenge submissions against the chapter's rubric.")
    parser.add_argument("submission", nargs="?", help="a learner's .py file (or folder)")
    parser.add_argument("--challenge", type=int, choices=(1, 2), help="override the detected challenge")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--batch", metavar="FOLDER", help="grade every submission in FOLDER")
    parser.add_argument("--out", default="grading-out", help="output folder for --batch")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel subprocesses")
    args = parser.parse_args(argv)
    if bool(args.batch) == bool(args.submission):
        parser.error("give either one SUBMISSION or --batch FOLDER")
    try:
        if args.batch:
            reports = grade_batch(args.batch, args.out, args.challenge, jobs=args.jobs)
            print(f"graded {len(reports)} submissions; gradebook: {os.path.join(args.out, 'gradebook.csv')}")
            return 0
        report = grade_file(args.submission, args.challenge, jobs=args.jobs)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if args.json else report.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
