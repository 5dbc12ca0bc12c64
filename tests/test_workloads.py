"""CPU-bound workers: deterministic, importable by name, usable from a spawn process pool."""

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

from course_lib.workloads import CpuJob, calibrate, crunch, timed_crunch


def test_crunch_is_deterministic_and_cheap_for_small_n():
    assert crunch(0) == 0
    assert crunch(4) == ((0 * 31 + 1) * 31 + 2) * 31 + 3
    assert crunch(10_000) == crunch(10_000)


def test_timed_crunch_records_the_work():
    job = timed_crunch("a", 1000)
    assert isinstance(job, CpuJob)
    assert job.name == "a" and job.result == crunch(1000)
    assert job.start <= job.end


def test_calibrate_scales_with_the_target_and_rejects_nonsense():
    small, big = calibrate(0.01), calibrate(0.1)
    assert 1 <= small < big
    with pytest.raises(ValueError):
        calibrate(0)


def test_functions_pickle_by_reference():
    assert pickle.loads(pickle.dumps(timed_crunch)) is timed_crunch


def test_a_spawn_process_pool_can_run_them():
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        jobs = list(pool.map(timed_crunch, ["a", "b"], [1000, 2000]))
    assert [j.result for j in jobs] == [crunch(1000), crunch(2000)]
    assert all(isinstance(j.pid, int) for j in jobs)
