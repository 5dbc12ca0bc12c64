"""Scheduler overhead, against plain asyncio doing the same work, in one run.

    python bench/bench_scheduler.py            # full size (a minute or two)
    python bench/bench_scheduler.py --quick    # small, for a smoke test

The target (issue 15): end to end, `add_task` plus `run` of N no-op tasks
costs at most 2x `asyncio.gather` over a `Semaphore` doing the same work,
for N = 20,000 and 100,000 with 8 and 50 workers.  Each size is measured
in several rounds; every round runs the baseline and the scheduler once,
alternating which goes first, and the best time of each is kept (the best
is the run the machine disturbed least).

Workloads (no-op async tasks, so only scheduling overhead is measured):
  independent  N tasks, no dependencies (the target table)
  chain        tasks 0 <- 1 <- 2 ... (each depends on the previous one)
  dag          random DAG: each task depends on up to 3 earlier ones (seeded)

Contenders:
  baseline     asyncio.gather over a Semaphore; dependencies via one Event per task
  SmartScheduler  course_lib's scheduler on the default asyncio loop, default
               settings (every event recorded in ``event_log``)
  chapter ref  the chapter's reference solution with only its set/list crash
               fixed, on the virtual clock (its sleep(0.1) polling would take
               real hours otherwise); quadratic, so it runs 1/10 of the size,
               and its loop-clock time shows what the polling costs.

Memory: tracemalloc peak during add+run, per task.  Absolute times vary between
machines; the ratios to the baseline measured in the same run are what counts.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import time
import tracemalloc

from course_lib import SmartScheduler, Task, run_virtual
from course_lib.chapter_reference import load as load_reference

WORKERS = 50  # for the chain, dag and memory workloads


async def noop(*_args, **_kwargs) -> None:
    return None


def make_graph(kind: str, n: int) -> list[list[int]]:
    """deps[i] = indices task i depends on (always earlier ones)."""
    if kind == "independent":
        return [[] for _ in range(n)]
    if kind == "chain":
        return [[i - 1] if i else [] for i in range(n)]
    rng = random.Random(7)
    return [sorted(rng.sample(range(i), min(i, rng.randint(0, 3)))) for i in range(n)]


async def run_baseline(deps: list[list[int]], workers: int) -> dict[str, float]:
    """Return {"total": seconds}."""
    start = time.perf_counter()
    sem = asyncio.Semaphore(workers)
    if not any(deps):
        async def one() -> None:
            async with sem:
                await noop()

        await asyncio.gather(*(one() for _ in deps))
        return {"total": time.perf_counter() - start}
    done = [asyncio.Event() for _ in deps]

    async def node(i: int) -> None:
        for d in deps[i]:
            await done[d].wait()
        async with sem:
            await noop()
        done[i].set()

    await asyncio.gather(*(node(i) for i in range(len(deps))))
    return {"total": time.perf_counter() - start}


async def run_ours(deps: list[list[int]], workers: int) -> dict[str, float]:
    """Return {"add": seconds in add_task (Task objects made too), "run": ..., "total": ...}."""
    start = time.perf_counter()
    scheduler = SmartScheduler(max_workers=workers)
    for i, ds in enumerate(deps):
        await scheduler.add_task(Task(id=str(i), func=noop, dependencies=[str(d) for d in ds]))
    added = time.perf_counter()
    await scheduler.run()
    end = time.perf_counter()
    assert scheduler.get_stats()["completed"] == len(deps)
    return {"add": added - start, "run": end - added, "total": end - start}


def measure(fn, deps, workers: int) -> dict[str, float]:
    """One timed run on a fresh event loop (loop set-up and teardown not timed)."""
    gc.collect()
    return asyncio.run(fn(deps, workers))


def best_of_rounds(deps, workers: int, rounds: int) -> tuple[float, dict[str, float]]:
    """Best baseline total and best scheduler times over interleaved rounds."""
    base = float("inf")
    ours = {"add": float("inf"), "run": float("inf"), "total": float("inf")}
    for r in range(rounds):
        order = (run_baseline, run_ours) if r % 2 == 0 else (run_ours, run_baseline)
        for fn in order:
            times = measure(fn, deps, workers)
            if fn is run_baseline:
                base = min(base, times["total"])
            else:
                ours = {key: min(ours[key], times[key]) for key in ours}
    return base, ours


def run_reference(deps: list[list[int]]) -> tuple[float, float]:
    """Return (real seconds, loop-clock seconds) for the fixed reference solution."""
    ref = load_reference(fixed=True)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        scheduler = ref.SmartScheduler(max_workers=WORKERS)
        for i, ds in enumerate(deps):
            await scheduler.add_task(ref.Task(id=str(i), func=noop, dependencies={str(d) for d in ds}))
        await scheduler.run()
        return loop.time()

    start = time.perf_counter()
    loop_seconds = run_virtual(main())
    return time.perf_counter() - start, loop_seconds


def peak_bytes_per_task(fn, deps) -> float:
    gc.collect()
    tracemalloc.start()
    asyncio.run(fn(deps, WORKERS))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / len(deps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and 2 rounds, for a smoke test")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds per size (default 5, --quick 2)")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    target_sizes = (2_000, 10_000) if args.quick else (20_000, 100_000)
    scale = 10 if args.quick else 1
    other_sizes = {"chain": 10_000 // scale, "dag": 10_000 // scale}

    print(f"\nEnd to end (add_task + run), independent no-op tasks, "
          f"best of {rounds} interleaved rounds\n")
    print("| tasks | workers | baseline | SmartScheduler | ratio | add_task µs/task | "
          "run µs/task | target |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    ratios = []
    for n in target_sizes:
        deps = make_graph("independent", n)
        for workers in (8, 50):
            base, ours = best_of_rounds(deps, workers, rounds)
            ratio = ours["total"] / base
            ratios.append(ratio)
            print(f"| {n:,} | {workers} | {base:.3f} s | {ours['total']:.3f} s | {ratio:.2f}x | "
                  f"{ours['add'] / n * 1e6:.1f} | {ours['run'] / n * 1e6:.1f} | "
                  f"{'met' if ratio <= 2 else 'missed'} (<= 2x) |", flush=True)

    rows = []
    for kind, n in other_sizes.items():
        deps = make_graph(kind, n)
        base, ours = best_of_rounds(deps, WORKERS, rounds)
        ref_n = max(1, n // 10)
        ref_real, ref_loop = run_reference(make_graph(kind, ref_n))
        rows.append((kind, n, base, ours["total"], ref_n, ref_real, ref_loop))

    print(f"\nOther workloads, {WORKERS} workers, best of {rounds} interleaved rounds\n")
    print("| workload | tasks | baseline | SmartScheduler | ratio | µs/task | "
          "chapter ref (tasks) | ref real | ref loop clock |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind, n, base, ours, ref_n, ref_real, ref_loop in rows:
        print(f"| {kind} | {n:,} | {base:.3f} s | {ours:.3f} s | {ours / base:.2f}x | "
              f"{ours / n * 1e6:.1f} | {ref_n:,} | {ref_real:.2f} s | {ref_loop:,.1f} s |")

    deps = make_graph("independent", target_sizes[-1])
    mem_base = peak_bytes_per_task(run_baseline, deps)
    mem_ours = peak_bytes_per_task(run_ours, deps)
    print(f"\nPeak memory per task ({len(deps):,} independent tasks, tracemalloc)\n")
    print("| contender | bytes/task | ratio |")
    print("|---|---:|---:|")
    print(f"| baseline | {mem_base:,.0f} | 1.00x |")
    print(f"| SmartScheduler | {mem_ours:,.0f} | {mem_ours / mem_base:.2f}x |")

    chain = rows[0]
    print("\nTargets")
    print(f"- end to end <= 2x baseline (sizes {', '.join(f'{n:,}' for n in target_sizes)}; "
          f"8 and 50 workers): worst {max(ratios):.2f}x")
    print(f"- {chain[1]:,}-task chain < 1 s: {chain[3]:.3f} s "
          f"(chapter ref: {chain[6] / chain[4]:.2f} s loop time per task, "
          f"so {chain[6] / chain[4] * chain[1]:,.0f} s for {chain[1]:,})")
    print(f"- <= 2 KB per task: {mem_ours:,.0f} bytes")


if __name__ == "__main__":
    main()
