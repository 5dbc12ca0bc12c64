"""Command line: ``python -m course_lib.grading SUBMISSION`` or ``--batch FOLDER``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .grader import SALT_VARIABLE, grade_batch, grade_file
from .sandbox import Limits, bubblewrap_works


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.grading",
                                     description="Grade challenge submissions against the chapter's rubric.")
    parser.add_argument("submission", nargs="?", help="a learner's .py file (or folder)")
    parser.add_argument("--challenge", type=int, choices=(1, 2), help="override the detected challenge")
    parser.add_argument("--format", choices=("text", "json", "gradescope"), default="text",
                        help="report format: text (Chinese), json, or Gradescope's results.json")
    parser.add_argument("--json", action="store_const", const="json", dest="format",
                        help="the same as --format json")
    parser.add_argument("--only", metavar="CRITERION",
                        help="grade one criterion alone (priority, dependencies, ...; registration, ...)")
    parser.add_argument("--batch", metavar="FOLDER", help="grade every submission in FOLDER")
    parser.add_argument("--out", default="grading-out", help="output folder for --batch")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel subprocesses")
    parser.add_argument("--salt-file", metavar="FILE",
                        help=f"the instructor's secret salt for the scenarios (default: ${SALT_VARIABLE})")
    parser.add_argument("--sandbox", action=argparse.BooleanOptionalAction, default=None,
                        help="run each check under bubblewrap: its own processes, no network, read-only "
                             "files but its own (default: on for --batch where bubblewrap works)")
    args = parser.parse_args(argv)
    if bool(args.batch) == bool(args.submission):
        parser.error("give either one SUBMISSION or --batch FOLDER")
    if args.sandbox and not bubblewrap_works():
        parser.error("--sandbox needs bubblewrap that may create namespaces here "
                     "(Debian/Ubuntu: apt-get install bubblewrap)")
    sandbox = args.sandbox if args.sandbox is not None else bool(args.batch) and bubblewrap_works()
    if args.batch and not sandbox:
        print("warning: grading without bubblewrap: a hostile submission can signal the grader or leave "
              "a process behind that changes the gradebook; for a class you do not trust, install "
              "bubblewrap (apt-get install bubblewrap) or grade inside a throw-away container",
              file=sys.stderr)
    limits = Limits(sandbox=sandbox)
    try:
        salt = Path(args.salt_file).read_text(encoding="utf-8").strip() if args.salt_file else None
        if args.batch:
            reports = grade_batch(args.batch, args.out, args.challenge, jobs=args.jobs, limits=limits,
                                  salt=salt)
            print(f"graded {len(reports)} submissions; gradebook: {os.path.join(args.out, 'gradebook.csv')}")
            return 0
        report = grade_file(args.submission, args.challenge, jobs=args.jobs, limits=limits, salt=salt,
                            only=args.only)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a grader bug must still end in one line, not a traceback
        print(f"error: grading stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    if args.format == "text":
        print(report.text())
    else:
        data = report.gradescope() if args.format == "gradescope" else report.as_dict()
        print(json.dumps(data, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
