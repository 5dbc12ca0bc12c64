"""The benchmark scripts still run (on --quick sizes); their numbers are not asserted here."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize("script, table_header", [
    ("bench_agents.py", "| agents | bare asyncio.Queue (tasks/s) | Coordinator (tasks/s) | ratio |"),
    ("bench_scheduler.py", "| workload |"),
    ("bench_grading.py", "| workload | in-process baseline | isolated grader | ratio | target |"),
])
def test_a_quick_benchmark_prints_its_tables(script, table_header):
    run = subprocess.run([sys.executable, str(BENCH / script), "--quick"],
                         capture_output=True, text=True, timeout=110)
    assert run.returncode == 0, run.stderr[-2000:]
    assert table_header in run.stdout
