"""Challenge 1 checks: what a learner's SmartScheduler must do.

Every check builds its own small scenario with instrumented tasks, runs it on
the virtual clock (exact, fast, repeatable) and raises `CheckFailed` with a
concrete reason.  A check exercises one criterion and leans on as little of
the others as it can, so one bug costs points in one place.

The contract is the chapter's API: ``SmartScheduler(max_workers)``,
``await add_task(Task(...)) -> id``, ``await run() -> {id: Task}``,
``get_stats() -> dict`` with ``total``, ``completed``, ``failed`` and
``status``; ``Task`` with the chapter's fields.  See
``exercises/challenge1_scheduler.py`` for the same contract in docstrings.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..vclock import VirtualClockStall, run_virtual
from .rubric import Check, CheckFailed, Criterion

__all__ = ["CRITERIA"]

RUN_LIMIT = 120.0  # virtual seconds a scenario's run() may take


class Probe:
    """Makes task functions that record when they run, on the loop clock."""

    def __init__(self) -> None:
        self.starts: dict[str, list[float]] = {}
        self.ends: dict[str, list[float]] = {}
        self.running = 0
        self.peak = 0

    def work(self, tid: str, seconds: float = 1.0, fail_first: int = 0, result: Any = None):
        calls = 0

        async def task_func(*_args: Any, **_kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            loop = asyncio.get_running_loop()
            self.starts.setdefault(tid, []).append(loop.time())
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                await asyncio.sleep(seconds)
                if calls <= fail_first:
                    raise RuntimeError(f"{tid} 第 {calls} 次故意失败")
                return tid.upper() if result is None else result
            finally:
                self.running -= 1
                self.ends.setdefault(tid, []).append(loop.time())

        return task_func


def run_scenario(sub: Any, tasks: list[Any], max_workers: int = 3, during: Any = None):
    """Add *tasks*, run, return (scheduler, results, loop time at the end)."""

    async def main():
        loop = asyncio.get_running_loop()
        scheduler = sub.SmartScheduler(max_workers=max_workers)
        for task in tasks:
            await scheduler.add_task(task)
        runner = asyncio.ensure_future(scheduler.run())
        if during is not None:
            await during(scheduler)
        try:
            results = await asyncio.wait_for(runner, RUN_LIMIT)
        except TimeoutError:
            raise CheckFailed(f"run() 在 {RUN_LIMIT:g} 秒（虚拟时间）内没有结束：调度器卡住了") from None
        if not isinstance(results, dict) or set(results) != {t.id for t in tasks}:
            raise CheckFailed(f"run() 应返回包含全部任务的字典 {{任务id: Task}}，实际返回了 {results!r:.80}")
        return scheduler, results, loop.time()

    try:
        return run_virtual(main(), stall_timeout=2.0)
    except VirtualClockStall:
        raise CheckFailed("程序死锁：所有协程都在等待，却没有任何计时器或事件能唤醒它们") from None


def _status(task: Any) -> str:
    status = getattr(task, "status", None)
    return getattr(status, "value", str(status))


def _task(sub: Any, tid: str, func: Any, **fields: Any) -> Any:
    return sub.Task(id=tid, func=func, **fields)


# ------------------------------------------------------------------ priority

def check_priority_order(sub: Any) -> None:
    probe = Probe()
    order = [("low", 3), ("high", 1), ("mid", 2)]
    tasks = [_task(sub, tid, probe.work(tid), priority=p) for tid, p in order]
    run_scenario(sub, tasks, max_workers=1)
    started = sorted(probe.starts, key=lambda t: probe.starts[t][0])
    if started != ["high", "mid", "low"]:
        raise CheckFailed(f"只有 1 个工作槽时，优先级 1、2、3 的任务应按 high、mid、low 的顺序开始，"
                          f"实际顺序是 {'、'.join(started)}")


def check_fifo_ties(sub: Any) -> None:
    probe = Probe()
    ids = ["first", "second", "third", "fourth"]
    tasks = [_task(sub, tid, probe.work(tid), priority=2) for tid in ids]
    run_scenario(sub, tasks, max_workers=1)
    started = sorted(probe.starts, key=lambda t: probe.starts[t][0])
    if started != ids:
        raise CheckFailed(f"优先级相同时应按加入顺序执行（先来先做），实际顺序是 {'、'.join(started)}")


def check_best_ready_next(sub: Any) -> None:
    probe = Probe()
    tasks = [
        _task(sub, "gate", probe.work("gate", 1.0), priority=0),
        *(_task(sub, f"filler-{i}", probe.work(f"filler-{i}", 1.0), priority=4) for i in (1, 2, 3)),
        _task(sub, "urgent", probe.work("urgent", 1.0), priority=1, dependencies={"gate"}),
    ]
    run_scenario(sub, tasks, max_workers=1)
    # When gate completes, urgent becomes ready and must beat every filler
    # still waiting then.  (Judged on start times, so that a wrong worker
    # count costs points under concurrency, not here.)
    if "urgent" not in probe.starts or "gate" not in probe.ends:
        raise CheckFailed("任务 urgent 或 gate 没有运行")
    ready_at, urgent_at = probe.ends["gate"][0], probe.starts["urgent"][0]
    jumped = [f for f in ("filler-1", "filler-2", "filler-3")
              if ready_at <= probe.starts.get(f, [-1.0])[0] < urgent_at]
    if jumped:
        raise CheckFailed(f"gate 在 t={ready_at:g} 完成后 urgent（优先级 1）就已就绪，"
                          f"却让优先级 4 的 {'、'.join(jumped)} 先开始了（urgent 在 t={urgent_at:g} 才开始）")


# -------------------------------------------------------------- dependencies

def check_waits_for_dependency(sub: Any) -> None:
    probe = Probe()
    tasks = [
        _task(sub, "A", probe.work("A", 1.0)),
        _task(sub, "B", probe.work("B", 0.5), dependencies={"A"}),
        _task(sub, "C", probe.work("C", 0.5), dependencies={"A", "B"}),
    ]
    run_scenario(sub, tasks, max_workers=3)
    for tid, deps in (("B", ["A"]), ("C", ["A", "B"])):
        if tid not in probe.starts:
            raise CheckFailed(f"任务 {tid} 根本没有运行")
        for dep in deps:
            if dep not in probe.ends or probe.starts[tid][0] < probe.ends[dep][-1]:
                raise CheckFailed(f"任务 {tid} 在依赖 {dep} 完成前就开始了")


def check_passes_dependency_result(sub: Any) -> None:
    received: list[Any] = []

    async def task_a():
        await asyncio.sleep(1)
        return "A完成"

    async def task_b(a_result: str):
        received.append(a_result)
        return f"B完成（依赖: {a_result}）"

    tasks = [_task(sub, "task-a", task_a), _task(sub, "task-b", task_b, dependencies={"task-a"})]
    _, results, _ = run_scenario(sub, tasks)
    b = results.get("task-b") if isinstance(results, dict) else None
    if received != ["A完成"]:
        error = getattr(b, "error", None)
        raise CheckFailed("像章节里的 task_b(a_result) 这样只收一个位置参数的函数，应收到依赖 task-a 的结果；"
                          + (f"实际出错：{error}" if error else f"实际收到 {received!r}"))


def check_failed_dependency_cancels(sub: Any) -> None:
    probe = Probe()

    async def broken(*_a: Any, **_k: Any):
        raise RuntimeError("上游坏了")

    tasks = [
        _task(sub, "A", broken, max_retries=0),
        _task(sub, "B", probe.work("B"), dependencies={"A"}),
        _task(sub, "C", probe.work("C"), dependencies={"B"}),
    ]
    _, results, _ = run_scenario(sub, tasks)
    if "B" in probe.starts or "C" in probe.starts:
        raise CheckFailed("依赖 A 失败了，依赖它的任务却还是运行了")
    for tid in ("B", "C"):
        if _status(results[tid]) != "cancelled":
            raise CheckFailed(f"依赖链上游 A 失败后，任务 {tid} 应为 cancelled，实际是 {_status(results[tid])}")


def check_bad_graphs(sub: Any) -> None:
    probe = Probe()
    cycle = [
        _task(sub, "egg", probe.work("egg"), dependencies={"chicken"}),
        _task(sub, "chicken", probe.work("chicken"), dependencies={"egg"}),
    ]
    for tasks, what in ((cycle, "循环依赖（egg ↔ chicken）"),
                        ([_task(sub, "lonely", probe.work("lonely"), dependencies={"ghost"})],
                         "依赖了不存在的任务 ghost")):
        try:
            run_scenario(sub, tasks)
        except ValueError:
            continue
        except CheckFailed as exc:
            raise CheckFailed(f"遇到{what}时，run() 应立刻抛出 ValueError，实际：{exc}") from None
        raise CheckFailed(f"遇到{what}时，run() 应抛出 ValueError，实际没有报错")
    if probe.starts:
        raise CheckFailed("依赖关系有错时，任何任务都不应该开始运行")


# ------------------------------------------------------- concurrency + timeout

def check_max_workers(sub: Any) -> None:
    probe = Probe()
    tasks = [_task(sub, f"t{i}", probe.work(f"t{i}", 1.0)) for i in range(7)]
    run_scenario(sub, tasks, max_workers=2)
    if probe.peak > 2:
        raise CheckFailed(f"max_workers=2，却有 {probe.peak} 个任务同时在运行")
    if len(probe.starts) != 7:
        raise CheckFailed(f"7 个任务只运行了 {len(probe.starts)} 个")


def check_runs_concurrently(sub: Any) -> None:
    probe = Probe()
    tasks = [_task(sub, f"t{i}", probe.work(f"t{i}", 1.0)) for i in range(6)]
    _, _, elapsed = run_scenario(sub, tasks, max_workers=3)
    if probe.peak < 3 or elapsed > 2.5:
        raise CheckFailed(f"6 个各需 1 秒的任务、3 个工作槽，应约 2 秒完成，实际用了 {elapsed:.1f} 秒"
                          f"（最多同时运行 {probe.peak} 个）")


def check_timeout(sub: Any) -> None:
    probe = Probe()
    tasks = [_task(sub, "slow", probe.work("slow", 10.0), timeout=1.0, max_retries=0),
             _task(sub, "quick", probe.work("quick", 0.5), timeout=5.0, max_retries=0)]
    _, results, elapsed = run_scenario(sub, tasks)
    if _status(results["slow"]) != "timeout":
        raise CheckFailed(f"运行 10 秒、timeout=1 的任务应为 timeout 状态，实际是 {_status(results['slow'])}")
    if probe.ends.get("slow", [99])[0] > 1.5 or elapsed > 2.0:
        raise CheckFailed(f"超时的任务应在约 1 秒时被取消，实际拖到了 {elapsed:.1f} 秒")
    if _status(results["quick"]) != "completed":
        raise CheckFailed("没有超时的任务也应正常完成")


# ----------------------------------------------------------------------- retry

def check_retry_until_success(sub: Any) -> None:
    probe = Probe()
    tasks = [_task(sub, "flaky", probe.work("flaky", 0.1, fail_first=2), max_retries=3, retry_delay=0.5)]
    _, results, _ = run_scenario(sub, tasks)
    flaky = results["flaky"]
    if _status(flaky) != "completed" or getattr(flaky, "retries", None) != 2:
        raise CheckFailed(f"前 2 次失败、第 3 次成功的任务应为 completed 且 retries=2，"
                          f"实际 {_status(flaky)}，retries={getattr(flaky, 'retries', None)}")


def check_retry_limit(sub: Any) -> None:
    probe = Probe()
    tasks = [_task(sub, "doomed", probe.work("doomed", 0.1, fail_first=100), max_retries=2, retry_delay=0.1)]
    _, results, _ = run_scenario(sub, tasks)
    attempts = len(probe.starts.get("doomed", []))
    doomed = results["doomed"]
    if attempts != 3:
        raise CheckFailed(f"max_retries=2 的任务最多尝试 3 次，实际尝试了 {attempts} 次")
    if _status(doomed) != "failed" or "第 3 次" not in str(getattr(doomed, "error", "")):
        raise CheckFailed(f"一直失败的任务应为 failed，并在 error 里保留最后一次的异常；"
                          f"实际 {_status(doomed)}，error={getattr(doomed, 'error', None)!r}")


def check_exponential_backoff(sub: Any) -> None:
    probe = Probe()
    tasks = [_task(sub, "api", probe.work("api", 0.0, fail_first=3), max_retries=3, retry_delay=1.0)]
    run_scenario(sub, tasks)
    starts = [round(t, 3) for t in probe.starts.get("api", [])]
    if starts != [0.0, 1.0, 3.0, 7.0]:
        raise CheckFailed(f"retry_delay=1 时，第 k 次重试前应等 1×2^(k-1) 秒（1、2、4 秒），"
                          f"即在 0、1、3、7 秒开始尝试；实际在 {starts} 秒")


# ------------------------------------------------------------------ monitoring

def _expected_counts(results: dict) -> dict[str, int]:
    statuses = [_status(t) for t in results.values()]
    return {"total": len(statuses), "completed": statuses.count("completed"),
            "failed": statuses.count("failed") + statuses.count("timeout")}


def check_final_stats(sub: Any) -> None:
    probe = Probe()

    async def broken(*_a: Any, **_k: Any):
        raise RuntimeError("坏了")

    tasks = [
        _task(sub, "ok-1", probe.work("ok-1")),
        _task(sub, "ok-2", probe.work("ok-2")),
        _task(sub, "bad", broken, max_retries=0),
        _task(sub, "late", probe.work("late", 5.0), timeout=1.0, max_retries=0),
    ]
    scheduler, results, _ = run_scenario(sub, tasks)
    stats = scheduler.get_stats() or {}
    # Compared with the final states run() reported, so a bug elsewhere (a
    # timeout that never fires, say) does not cost points here as well.
    expected = _expected_counts(results)
    got = {key: stats.get(key) for key in expected}
    if got != expected:
        raise CheckFailed(f"任务的最终状态是 {[_status(t) for t in results.values()]}，"
                          f"get_stats() 应为 {expected}（failed 包括 timeout），实际 {got}")


def check_status_counts(sub: Any) -> None:
    probe = Probe()
    tasks = [_task(sub, "a", probe.work("a")), _task(sub, "b", probe.work("b"), dependencies={"a"})]
    scheduler, results, _ = run_scenario(sub, tasks)
    status = (scheduler.get_stats() or {}).get("status")
    names = ["pending", "waiting", "running", "completed", "failed", "timeout", "cancelled"]
    if not isinstance(status, dict) or any(name not in status for name in names):
        raise CheckFailed(f"get_stats()['status'] 应给出全部 7 种状态各自的数量，实际是 {status!r}")
    actual = {name: [_status(t) for t in results.values()].count(name) for name in names}
    got = {name: status[name] for name in names}
    if got != actual:
        raise CheckFailed(f"get_stats()['status'] 与任务的实际状态不符：应为 {actual}，实际 {got}")


def check_stats_during_run(sub: Any) -> None:
    probe = Probe()
    tasks = [_task(sub, f"t{i}", probe.work(f"t{i}", 2.0)) for i in range(4)]
    seen: dict[str, Any] = {}

    async def peek(scheduler: Any) -> None:
        await asyncio.sleep(1.0)  # halfway through the first wave
        seen.update(scheduler.get_stats() or {})
        seen["_really_running"] = probe.running

    run_scenario(sub, tasks, max_workers=2, during=peek)
    running = (seen.get("status") or {}).get("running", seen.get("running"))
    if not seen["_really_running"] or running != seen["_really_running"]:
        raise CheckFailed(f"运行到一半时有 {seen['_really_running']} 个任务正在运行，"
                          f"get_stats() 却显示 {running!r}")


CRITERIA = (
    Criterion("priority", "优先级队列", (
        Check("priority_order", "优先级数字小的先执行", 8, check_priority_order),
        Check("fifo_ties", "优先级相同按加入顺序执行", 6, check_fifo_ties),
        Check("best_ready_next", "工作槽空出时启动已就绪中最优先的任务", 6, check_best_ready_next),
    )),
    Criterion("dependencies", "依赖关系", (
        Check("waits_for_dependency", "任务等所有依赖完成后才开始", 7, check_waits_for_dependency),
        Check("passes_result", "依赖的结果作为位置参数传入（章节的 task_b）", 6, check_passes_dependency_result),
        Check("failed_dependency", "上游失败时下游被取消且不会卡住", 6, check_failed_dependency_cancels),
        Check("bad_graphs", "循环依赖和未知依赖抛出 ValueError", 6, check_bad_graphs),
    )),
    Criterion("concurrency_timeout", "并发控制和超时", (
        Check("max_workers", "同时运行的任务不超过 max_workers", 7, check_max_workers),
        Check("concurrent", "真正并发地使用所有工作槽", 6, check_runs_concurrently),
        Check("timeout", "超时的任务被取消并标记为 timeout", 7, check_timeout),
    )),
    Criterion("retry", "重试机制", (
        Check("retry_success", "失败后重试直到成功，retries 计数正确", 5, check_retry_until_success),
        Check("retry_limit", "最多尝试 1 + max_retries 次，error 保留最后的异常", 5, check_retry_limit),
        Check("backoff", "指数退避：retry_delay × 2^(k-1)", 5, check_exponential_backoff),
    )),
    Criterion("monitoring", "实时监控和统计", (
        Check("final_stats", "结束后 total/completed/failed 正确（failed 含超时）", 7, check_final_stats),
        Check("status_counts", "status 给出 7 种状态的数量", 6, check_status_counts),
        Check("stats_during_run", "运行途中 get_stats() 反映正在运行的任务", 7, check_stats_during_run),
    )),
)
