"""The benchmark scripts still run (on --quick sizes); their numbers are not asserted here."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.agents import redis_local

BENCH = Path(__file__).resolve().parent.parent / "bench"
NO_REDIS = pytest.mark.skipif(
    redis_local.find_redis_server() is None and os.environ.get("CI") != "true",
    reason="no redis-server (Debian/Ubuntu: sudo apt-get install redis-server)")


@pytest.mark.parametrize("script, table_header", [
    ("bench_agents.py", "| agents | bare asyncio.Queue (tasks/s) | Coordinator (tasks/s) | ratio |"),
    ("bench_scheduler.py", "| workload |"),
    ("bench_grading.py", "| workload | in-process baseline | isolated grader | ratio | target |"),
    pytest.param("bench_redis.py", "| K workers | bare loop (tasks/s) | arq (tasks/s) "
                 "| course_lib (tasks/s) | vs arq | vs bare |", marks=NO_REDIS),
])
def test_a_quick_benchmark_prints_its_tables(script, table_header):
    run = subprocess.run([sys.executable, str(BENCH / script), "--quick"],
                         capture_output=True, text=True, timeout=110)
    assert run.returncode == 0, run.stderr[-2000:]
    assert table_header in run.stdout
