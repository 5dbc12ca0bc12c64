"""CPU-bound work for the concurrency-vs-parallelism demos.

Example use::

    from concurrent.futures import ProcessPoolExecutor
    from course_lib.workloads import crunch, timed_crunch

    crunch(1_000_000)                         # pure Python arithmetic, no waiting
    with ProcessPoolExecutor(2) as pool:
        jobs = list(pool.map(timed_crunch, ["a", "b"], [10**6, 10**6]))

Why these live in a module and not in a notebook cell: on Windows and macOS a
process pool starts its workers with *spawn*.  Each worker is a fresh Python
that receives the function by name (pickled as ``module.function``) and
imports it.  A function defined in a notebook lives in ``__main__`` of the
kernel, which the worker cannot import, so the job fails.  A function in an
importable module such as this one works everywhere.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

__all__ = ["CpuJob", "calibrate", "crunch", "timed_crunch"]


def crunch(n: int) -> int:
    """Busy arithmetic for *n* steps (time grows linearly with *n*); returns a checksum."""
    total = 0
    for i in range(n):
        total = (total * 31 + i) % 1_000_003  # small ints only: each step costs the same
    return total


@dataclass(frozen=True)
class CpuJob:
    """One finished `timed_crunch` call.

    ``start`` and ``end`` are wall-clock seconds (`time.time`), comparable
    between processes; ``pid`` is the process that did the work.
    """

    name: str
    start: float
    end: float
    pid: int
    result: int


def timed_crunch(name: str, n: int) -> CpuJob:
    """Run `crunch` (n) and record when and in which process it ran."""
    start = time.time()
    result = crunch(n)
    return CpuJob(name, start, time.time(), os.getpid(), result)


def calibrate(seconds: float, *, repeats: int = 3) -> int:
    """An *n* for which ``crunch(n)`` takes about *seconds* on this machine.

    The probe grows until one run takes at least 50 ms, and the fastest of
    *repeats* runs counts (like ``timeit``): a busy moment makes a run slower,
    never faster.
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    probe = 10_000
    while True:
        took = min(_duration(probe) for _ in range(repeats))
        if took >= 0.05:
            return max(1, int(probe * seconds / took))
        probe *= 4


def _duration(n: int) -> float:
    started = time.perf_counter()
    crunch(n)
    return time.perf_counter() - started