"""Scheduler overhead, against plain asyncio doing the same work, in one run.

    python bench/bench_scheduler.py            # full size (about a minute)
    python bench/bench_scheduler.py --quick    # 10x smaller, for a smoke test

Workloads (no-op async tasks, so only scheduling overhead is measured):
  independent  N tasks, no dependencies
  chain        tasks 0 <- 1 <- 2 ... (each depends on the previous one)
  dag          random DAG: each task depends on up to 3 earlier ones (seeded)

Contenders:
  baseline     asyncio.gather over a Semaphore; dependencies via one Event per task
  SmartScheduler  course_lib's scheduler on the default asyncio loop
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
import statistics
import time
import tracemalloc

from course_lib import SmartScheduler, Task, run_virtual
from course_lib.chapter_reference import load as load_reference

WORKERS = 50


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


async def run_baseline(deps: list[list[int]]) -> None:
    sem = asyncio.Semaphore(WORKERS)
    if not any(deps):
        async def one() -> None:
            async with sem:
                await noop()

        await asyncio.gather(*(one() for _ in deps))
        return
    done = [asyncio.Event() for _ in deps]

    async def node(i: int) -> None:
        for d in deps[i]:
            await done[d].wait()
        async with sem:
            await noop()
        done[i].set()

    await asyncio.gather(*(node(i) for i in range(len(deps))))


async def run_ours(deps: list[list[int]]) -> SmartScheduler:
    scheduler = SmartScheduler(max_workers=WORKERS)
    for i, ds in enumerate(deps):
        await scheduler.add_task(Task(id=str(i), func=noop, dependencies=[str(d) for d in ds]))
    await scheduler.run()
    assert scheduler.get_stats()["completed"] == len(deps)
    return scheduler


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


def timed(coro_fn, deps, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        asyncio.run(coro_fn(deps))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_bytes_per_task(coro_fn, deps) -> float:
    gc.collect()
    tracemalloc.start()
    asyncio.run(coro_fn(deps))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / len(deps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller workloads")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    sizes = {"independent": 100_000 // scale, "chain": 10_000 // scale, "dag": 10_000 // scale}

    rows = []
    for kind, n in sizes.items():
        deps = make_graph(kind, n)
        base = timed(run_baseline, deps, args.repeats)
        ours = timed(run_ours, deps, args.repeats)
        ref_n = max(1, n // 10)
        ref_real, ref_loop = run_reference(make_graph(kind, ref_n))
        rows.append((kind, n, base, ours, ref_n, ref_real, ref_loop))

    print(f"\nScheduler overhead, {WORKERS} workers, median of {args.repeats} runs\n")
    print("| workload | tasks | baseline | SmartScheduler | ratio | µs/task | "
          "chapter ref (tasks) | ref real | ref loop clock |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind, n, base, ours, ref_n, ref_real, ref_loop in rows:
        print(f"| {kind} | {n:,} | {base:.3f} s | {ours:.3f} s | {ours / base:.2f}x | "
              f"{ours / n * 1e6:.1f} | {ref_n:,} | {ref_real:.2f} s | {ref_loop:,.1f} s |")

    deps = make_graph("independent", sizes["independent"])
    mem_base = peak_bytes_per_task(run_baseline, deps)
    mem_ours = peak_bytes_per_task(run_ours, deps)
    print(f"\nPeak memory per task ({len(deps):,} independent tasks, tracemalloc)\n")
    print("| contender | bytes/task | ratio |")
    print("|---|---:|---:|")
    print(f"| baseline | {mem_base:,.0f} | 1.00x |")
    print(f"| SmartScheduler | {mem_ours:,.0f} | {mem_ours / mem_base:.2f}x |")

    independent, chain = rows[0], rows[1]
    print("\nTargets")
    print(f"- independent overhead <= 3x baseline: {independent[3] / independent[2]:.2f}x")
    print(f"- {chain[1]:,}-task chain < 1 s: {chain[3]:.3f} s "
          f"(chapter ref: {chain[6] / chain[4]:.2f} s loop time per task, "
          f"so {chain[6] / chain[4] * chain[1]:,.0f} s for {chain[1]:,})")
    print(f"- <= 2 KB per task: {mem_ours:,.0f} bytes")


if __name__ == "__main__":
    main()
