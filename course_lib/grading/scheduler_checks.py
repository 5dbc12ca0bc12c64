"""Challenge 1 checks: what a learner's SmartScheduler must do.

Each check has three parts, and only the middle one runs next to the
submission:

- ``scenario(rng)``, in the grader: the tasks to run, with ids, durations and
  priorities drawn from the grading seed (see grader.py), so a file cannot
  know them in advance;
- `observe`, in the child process: builds the tasks, runs the learner's
  scheduler on the virtual clock and reports what happened (start and end
  times on the loop clock, final states, stats), nothing more;
- ``judge(params, observations)``, in the grader again: compares what
  happened with what the rules say should happen, and raises `CheckFailed`
  with a concrete reason.

Forging observations therefore means computing a correct schedule for
unknown tasks, which is the exercise.  A check leans on one criterion and
as little of the others as it can, so one bug costs points in one place.

The contract is the chapter's API: ``SmartScheduler(max_workers)``,
``await add_task(Task(...)) -> id``, ``await run() -> {id: Task}``,
``get_stats() -> dict`` with ``total``, ``completed``, ``failed`` and
``status``; ``Task`` with the chapter's fields.  See
``exercises/challenge1_scheduler.py`` for the same contract in docstrings.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Optional

from ..vclock import VirtualClockStall, run_virtual
from .observations import jsonable
from .rubric import Check, CheckFailed, Criterion

__all__ = ["CRITERIA", "observe"]

RUN_LIMIT = 120.0  # virtual seconds a scenario's run() may take
WORDS = ("fetch", "parse", "rank", "index", "embed", "store", "notify", "clean", "split", "merge",
         "train", "score", "crawl", "render", "upload", "summarize")
STATES = ("pending", "waiting", "running", "completed", "failed", "timeout", "cancelled")


# ------------------------------------------------------------ the child side

class Probe:
    """Makes task functions that record when they run, on the loop clock."""

    def __init__(self) -> None:
        self.starts: dict[str, list[float]] = {}
        self.ends: dict[str, list[float]] = {}
        self.received: dict[str, list[Any]] = {}
        self.running = 0

    def function(self, spec: dict[str, Any]):
        tid, calls = spec["id"], 0

        async def task_func(*args: Any, **_kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            loop = asyncio.get_running_loop()
            self.starts.setdefault(tid, []).append(loop.time())
            self.received.setdefault(tid, []).append([jsonable(a) for a in args])
            self.running += 1
            try:
                await asyncio.sleep(spec.get("seconds", 1.0))
                if spec.get("broken") or calls <= spec.get("fail_first", 0):
                    raise RuntimeError(f"{tid} 第 {calls} 次故意失败")
                return spec.get("result", tid.upper())
            finally:
                self.running -= 1
                self.ends.setdefault(tid, []).append(loop.time())

        return task_func


def observe(sub: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Run the scenario's tasks on the learner's scheduler; report what happened."""
    probe = Probe()
    seen: dict[str, Any] = {}
    fields = ("priority", "timeout", "max_retries", "retry_delay")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        scheduler = sub.SmartScheduler(max_workers=params["max_workers"])
        for spec in params["tasks"]:
            extra = {name: spec[name] for name in fields if spec.get(name) is not None}
            if spec.get("deps"):
                extra["dependencies"] = set(spec["deps"])
            await scheduler.add_task(sub.Task(id=spec["id"], func=probe.function(spec), **extra))
        seen["begun"] = loop.time()
        runner = asyncio.ensure_future(scheduler.run())
        if params.get("peek") is not None:
            await asyncio.sleep(params["peek"])
            seen["peek"] = {"stats": jsonable(scheduler.get_stats()), "running": probe.running}
        try:
            results = await asyncio.wait_for(runner, RUN_LIMIT)
        except TimeoutError:
            seen["hung"] = True
            return
        except Exception as exc:  # noqa: BLE001 - bad graphs must raise ValueError
            seen["raised"] = f"{type(exc).__name__}: {exc}"[:300]
            seen["raised_value_error"] = isinstance(exc, ValueError)
            return
        seen["elapsed"] = loop.time()
        if isinstance(results, dict):
            seen["results"] = {str(tid): {"status": _status(task), "retries": jsonable(getattr(task, "retries", None)),
                                          "error": str(getattr(task, "error", None))[:300]}
                               for tid, task in results.items()}
        else:
            seen["results_repr"] = repr(results)[:80]
        seen["stats"] = jsonable(scheduler.get_stats())

    try:
        run_virtual(main(), stall_timeout=2.0)
    except VirtualClockStall:
        seen["deadlock"] = True
    return {**seen, "starts": probe.starts, "ends": probe.ends, "received": probe.received}


def _status(task: Any) -> str:
    status = getattr(task, "status", None)
    return str(getattr(status, "value", status))


# ----------------------------------------------------------- the grader side

def _ids(rng: random.Random, n: int) -> list[str]:
    """*n* distinct task ids such as ``rank-3f2``."""
    ids: list[str] = []
    while len(ids) < n:
        tid = f"{rng.choice(WORDS)}-{rng.randrange(16 ** 3):03x}"
        if tid not in ids:
            ids.append(tid)
    return ids


def _seconds(rng: random.Random, low: float = 0.5, high: float = 2.0) -> float:
    """A duration in quarter seconds: sums stay exact on the virtual clock."""
    return rng.randrange(int(low * 4), int(high * 4) + 1) / 4


EPSILON = 1e-6


def _consistent(params: dict, obs: dict) -> None:
    """CheckFailed unless the observed attempts could have happened.

    Each attempt of a task function sleeps at most its task's ``seconds``
    (less when it is cut short), one attempt after the other, within the run.
    Observations come from a process the submission controls: a forger has to
    produce a whole consistent schedule, which is solving the exercise.
    """
    specs = {spec["id"]: spec for spec in params["tasks"]}
    starts, ends = obs["starts"], obs["ends"]
    problem = None
    if set(starts) - set(specs) or set(starts) != set(ends):
        problem = "有不属于这个场景的任务，或开始和结束对不上"
    for tid, begun in starts.items():
        if problem:
            break
        spec, ended = specs[tid], ends[tid]
        for i, (start, end) in enumerate(zip(begun, ended, strict=True)):
            took = end - start
            if not -EPSILON <= took <= spec["seconds"] + EPSILON:
                problem = f"任务 {tid} 的一次尝试用了 {took:g} 秒（应为 {spec['seconds']:g} 秒）"
            elif i and start < ended[i - 1] - EPSILON:
                problem = f"任务 {tid} 的两次尝试重叠了"
    if problem is None and obs.get("elapsed") is not None and ends:
        if max(max(times) for times in ends.values()) > obs["elapsed"] + EPSILON:
            problem = "有任务在 run() 结束之后才结束"
    if problem:
        raise CheckFailed(f"检查进程报告的观测数据前后矛盾（{problem}）：可能是你的代码改动了评分用的代码")


def _peak(obs: dict) -> int:
    """The most attempts running at once, from the observed start and end times."""
    moments = sorted([(t, 1) for times in obs["starts"].values() for t in times]
                     + [(t, -1) for times in obs["ends"].values() for t in times], key=lambda m: (m[0], m[1]))
    running = peak = 0
    for _, change in moments:
        running += change
        peak = max(peak, running)
    return peak


def _completed_run(params: dict, obs: dict) -> dict[str, dict]:
    """The per-task results of a run that must end normally, or CheckFailed saying why not."""
    if obs.get("deadlock"):
        raise CheckFailed("程序死锁：所有协程都在等待，却没有任何计时器或事件能唤醒它们")
    if obs.get("hung"):
        raise CheckFailed(f"run() 在 {RUN_LIMIT:g} 秒（虚拟时间）内没有结束：调度器卡住了")
    if "raised" in obs:
        raise CheckFailed(f"run() 出错：{obs['raised']}")
    results = obs.get("results")
    expected = {spec["id"] for spec in params["tasks"]}
    if not isinstance(results, dict) or set(results) != expected:
        shown = obs.get("results_repr") if results is None else f"{sorted(results)!r:.80}"
        raise CheckFailed(f"run() 应返回包含全部任务的字典 {{任务id: Task}}，实际返回了 {shown}")
    _consistent(params, obs)
    return results


def _first_starts(obs: dict) -> list[str]:
    """Task ids in the order their first attempt started."""
    starts = obs["starts"]
    return sorted(starts, key=lambda tid: starts[tid][0])


def _start(obs: dict, tid: str) -> Optional[float]:
    times = obs["starts"].get(tid)
    return times[0] if times else None


# ------------------------------------------------------------------ priority

def scenario_priority_order(rng: random.Random) -> dict:
    n = rng.randint(3, 5)
    priorities = rng.sample(range(10), n)
    return {"max_workers": 1, "tasks": [{"id": tid, "seconds": _seconds(rng), "priority": p}
                                        for tid, p in zip(_ids(rng, n), priorities)]}


def judge_priority_order(params: dict, obs: dict) -> None:
    _completed_run(params, obs)
    expected = [s["id"] for s in sorted(params["tasks"], key=lambda s: s["priority"])]
    started = _first_starts(obs)
    if started != expected:
        shown = "、".join(f"{s['id']}（优先级 {s['priority']}）" for s in params["tasks"])
        raise CheckFailed(f"只有 1 个工作槽时，{shown} 应按 {'、'.join(expected)} 的顺序开始，"
                          f"实际顺序是 {'、'.join(started)}")


def scenario_fifo_ties(rng: random.Random) -> dict:
    priority = rng.randint(1, 5)
    return {"max_workers": 1, "tasks": [{"id": tid, "seconds": _seconds(rng), "priority": priority}
                                        for tid in _ids(rng, rng.randint(4, 6))]}


def judge_fifo_ties(params: dict, obs: dict) -> None:
    _completed_run(params, obs)
    expected = [spec["id"] for spec in params["tasks"]]
    started = _first_starts(obs)
    if started != expected:
        raise CheckFailed(f"优先级相同时应按加入顺序执行（先来先做）：应为 {'、'.join(expected)}，"
                          f"实际顺序是 {'、'.join(started)}")


def scenario_starts_at_once(rng: random.Random) -> dict:
    # Durations in odd milliseconds: the moments a slot frees fall between
    # the ticks of any sleep-based polling loop.
    return {"max_workers": 1, "tasks": [{"id": tid, "seconds": rng.randrange(101, 999, 2) / 1000}
                                        for tid in _ids(rng, rng.randint(4, 6))]}


def judge_starts_at_once(params: dict, obs: dict) -> None:
    _completed_run(params, obs)
    started = _first_starts(obs)
    free_at = obs.get("begun", 0.0)
    for tid in started:
        _at_once(tid, obs["starts"][tid][0], free_at, "工作槽")
        free_at = obs["ends"][tid][-1]


def _at_once(tid: str, start: float, free_at: float, what: str) -> None:
    """CheckFailed naming polling unless *tid* started the moment it could (*free_at*)."""
    if start > free_at + EPSILON:
        raise CheckFailed(f"{what}在 t={free_at:.3f} 就空出来了，任务 {tid} 却在 t={start:.3f} 才开始，"
                          f"晚了 {start - free_at:.3f} 秒。看起来调度器在用 sleep 定时轮询；"
                          "应该在任务结束的那一刻（完成回调或事件）就启动下一个任务")


def scenario_best_ready_next(rng: random.Random) -> dict:
    gate, urgent, *fillers = _ids(rng, rng.randint(4, 6))
    filler_priority = rng.randint(4, 8)
    return {"max_workers": 1, "tasks": [
        {"id": gate, "seconds": _seconds(rng), "priority": 0},
        *({"id": f, "seconds": _seconds(rng), "priority": filler_priority} for f in fillers),
        {"id": urgent, "seconds": _seconds(rng), "priority": rng.randint(-3, -1),  # beats the gate too
         "deps": [gate]},
    ]}


def judge_best_ready_next(params: dict, obs: dict) -> None:
    _completed_run(params, obs)
    gate, *fillers, urgent = params["tasks"]
    # When the gate completes, urgent becomes ready and must beat every filler
    # still waiting then.  (Judged on start times, so that a wrong worker
    # count costs points under concurrency, not here.)
    ready_at, urgent_at = obs["ends"].get(gate["id"], [None])[0], _start(obs, urgent["id"])
    if ready_at is None or urgent_at is None:
        raise CheckFailed(f"任务 {urgent['id']} 或 {gate['id']} 没有运行")
    if urgent_at < ready_at - EPSILON:
        raise CheckFailed(f"任务 {urgent['id']} 在 t={urgent_at:g} 就开始了，它的依赖 {gate['id']} "
                          f"在 t={ready_at:g} 才完成")
    jumped = [f["id"] for f in fillers if ready_at <= (_start(obs, f["id"]) or -1.0) < urgent_at]
    if jumped:
        raise CheckFailed(f"{gate['id']} 在 t={ready_at:g} 完成后 {urgent['id']}（优先级 {urgent['priority']}）"
                          f"就已就绪，却让优先级 {fillers[0]['priority']} 的 {'、'.join(jumped)} 先开始了"
                          f"（{urgent['id']} 在 t={urgent_at:g} 才开始）")
    _at_once(urgent["id"], urgent_at, ready_at, f"依赖 {gate['id']} 完成、唯一的工作槽")


# -------------------------------------------------------------- dependencies

def scenario_waits_for_dependency(rng: random.Random) -> dict:
    ids = _ids(rng, rng.randint(4, 6))
    tasks = [{"id": ids[0], "seconds": _seconds(rng)}]
    for i, tid in enumerate(ids[1:], 1):  # each depends on one to three earlier tasks
        deps = rng.sample(ids[:i], rng.randint(1, min(3, i)))
        tasks.append({"id": tid, "seconds": _seconds(rng), "deps": deps})
    rng.shuffle(tasks)  # added in any order: the graph decides
    return {"max_workers": len(ids), "tasks": tasks}


def judge_waits_for_dependency(params: dict, obs: dict) -> None:
    _completed_run(params, obs)
    for spec in params["tasks"]:
        tid = spec["id"]
        if _start(obs, tid) is None:
            raise CheckFailed(f"任务 {tid} 根本没有运行")
        for dep in spec.get("deps", ()):
            ends = obs["ends"].get(dep)
            if not ends or _start(obs, tid) < ends[-1]:
                raise CheckFailed(f"任务 {tid} 在依赖 {dep} 完成前就开始了")


def scenario_passes_result(rng: random.Random) -> dict:
    first, second, *others, joiner = _ids(rng, rng.randint(4, 5))
    sources = [first, *others]
    tasks = [{"id": tid, "seconds": _seconds(rng), "result": f"{tid}的结果-{rng.randrange(10 ** 6):06d}"}
             for tid in sources]
    tasks.append({"id": second, "seconds": _seconds(rng), "deps": [first]})
    tasks.append({"id": joiner, "seconds": _seconds(rng), "deps": rng.sample(sources, len(sources))})
    return {"max_workers": 3, "tasks": tasks}


def judge_passes_result(params: dict, obs: dict) -> None:
    results = _completed_run(params, obs)
    made = {spec["id"]: spec["result"] for spec in params["tasks"] if "result" in spec}
    *_, second, joiner = params["tasks"]
    (first,) = second["deps"]
    received = obs["received"].get(second["id"])
    if received != [[made[first]]]:
        error = results[second["id"]]["error"]
        raise CheckFailed(f"像章节里的 task_b(a_result) 这样只收一个位置参数的函数，应收到依赖 {first} 的结果 "
                          f"{made[first]!r}；"
                          + (f"实际出错：{error}" if error not in ("", "None") else f"实际收到 {received!r}"))
    expected = [made[dep] for dep in sorted(joiner["deps"])]
    received = obs["received"].get(joiner["id"])
    if received != [expected]:
        raise CheckFailed(f"任务 {joiner['id']} 的依赖是集合 {{{'、'.join(joiner['deps'])}}}：结果应按依赖的 id 排序，"
                          f"作为位置参数传入，即 {expected!r}；实际收到 {received!r}")


def scenario_failed_dependency(rng: random.Random) -> dict:
    root, *chain = _ids(rng, rng.randint(3, 5))
    tasks = [{"id": root, "seconds": _seconds(rng, 0.25, 1.0), "broken": True, "max_retries": 0}]
    for before, tid in zip([root, *chain], chain):
        tasks.append({"id": tid, "seconds": _seconds(rng), "deps": [before]})
    return {"max_workers": 3, "tasks": tasks}


def judge_failed_dependency(params: dict, obs: dict) -> None:
    results = _completed_run(params, obs)
    root, *chain = params["tasks"]
    ran = [spec["id"] for spec in chain if spec["id"] in obs["starts"]]
    if ran:
        raise CheckFailed(f"依赖 {root['id']} 失败了，依赖它的 {'、'.join(ran)} 却还是运行了")
    for spec in chain:
        status = results[spec["id"]]["status"]
        if status != "cancelled":
            raise CheckFailed(f"依赖链上游 {root['id']} 失败后，任务 {spec['id']} 应为 cancelled，实际是 {status}")


def scenario_bad_graphs(rng: random.Random) -> dict:
    cycle = _ids(rng, rng.randint(2, 3))
    lonely, ghost = _ids(rng, 2)
    return {"graphs": [
        {"what": "循环依赖（" + " → ".join([*cycle, cycle[0]]) + "）", "max_workers": 3,
         "tasks": [{"id": tid, "seconds": 1.0, "deps": [cycle[i - 1]]} for i, tid in enumerate(cycle)]},
        {"what": f"依赖了不存在的任务 {ghost}", "max_workers": 3,
         "tasks": [{"id": lonely, "seconds": 1.0, "deps": [ghost]}]},
    ]}


def observe_bad_graphs(sub: Any, params: dict[str, Any]) -> dict[str, Any]:
    return {"graphs": [observe(sub, graph) for graph in params["graphs"]]}


def judge_bad_graphs(params: dict, obs: dict) -> None:
    for graph, seen in zip(params["graphs"], obs["graphs"], strict=True):
        if seen["starts"]:
            raise CheckFailed(f"遇到{graph['what']}时，任何任务都不应该开始运行")
        if seen.get("raised_value_error"):
            continue
        if "raised" in seen:
            raise CheckFailed(f"遇到{graph['what']}时，run() 应抛出 ValueError，实际抛出了 {seen['raised']}")
        try:
            _completed_run(graph, seen)
        except CheckFailed as exc:
            raise CheckFailed(f"遇到{graph['what']}时，run() 应立刻抛出 ValueError，实际：{exc}") from None
        raise CheckFailed(f"遇到{graph['what']}时，run() 应抛出 ValueError，实际没有报错")


# ------------------------------------------------------- concurrency + timeout

def scenario_max_workers(rng: random.Random) -> dict:
    workers = rng.randint(2, 4)
    return {"max_workers": workers,
            "tasks": [{"id": tid, "seconds": _seconds(rng)} for tid in _ids(rng, 2 * workers + 1)]}


def judge_max_workers(params: dict, obs: dict) -> None:
    _completed_run(params, obs)
    workers, total = params["max_workers"], len(params["tasks"])
    if _peak(obs) > workers:
        raise CheckFailed(f"max_workers={workers}，却有 {_peak(obs)} 个任务同时在运行")
    if len(obs["starts"]) != total:
        raise CheckFailed(f"{total} 个任务只运行了 {len(obs['starts'])} 个")


def scenario_concurrent(rng: random.Random) -> dict:
    workers, seconds = rng.randint(2, 4), _seconds(rng, 1.0, 2.0)
    return {"max_workers": workers,
            "tasks": [{"id": tid, "seconds": seconds} for tid in _ids(rng, 2 * workers)]}


def judge_concurrent(params: dict, obs: dict) -> None:
    _completed_run(params, obs)
    workers, seconds, total = params["max_workers"], params["tasks"][0]["seconds"], len(params["tasks"])
    elapsed = obs["elapsed"]
    if _peak(obs) < workers or elapsed > 2 * seconds + 0.5:
        raise CheckFailed(f"{total} 个各需 {seconds:g} 秒的任务、{workers} 个工作槽，应约 {2 * seconds:g} 秒完成，"
                          f"实际用了 {elapsed:.2f} 秒（最多同时运行 {_peak(obs)} 个）")


def scenario_timeout(rng: random.Random) -> dict:
    slow, quick = _ids(rng, 2)
    limit = rng.choice((0.5, 1.0, 1.5))
    return {"max_workers": 3, "tasks": [
        {"id": slow, "seconds": 10.0, "timeout": limit, "max_retries": 0},
        {"id": quick, "seconds": limit / 2, "timeout": 5.0, "max_retries": 0},
    ]}


def judge_timeout(params: dict, obs: dict) -> None:
    results = _completed_run(params, obs)
    slow, quick = params["tasks"]
    limit = slow["timeout"]
    status = results[slow["id"]]["status"]
    if status != "timeout":
        raise CheckFailed(f"运行 10 秒、timeout={limit:g} 的任务应为 timeout 状态，实际是 {status}")
    ended = obs["ends"].get(slow["id"], [99.0])[0]
    if ended > limit + 0.5 or obs["elapsed"] > limit + 1.0:
        raise CheckFailed(f"超时的任务应在约 {limit:g} 秒时被取消，实际拖到了 {obs['elapsed']:.1f} 秒")
    if results[quick["id"]]["status"] != "completed":
        raise CheckFailed("没有超时的任务也应正常完成")


# ----------------------------------------------------------------------- retry

def scenario_retry_success(rng: random.Random) -> dict:
    failures = rng.randint(1, 2)
    return {"max_workers": 3, "tasks": [{"id": _ids(rng, 1)[0], "seconds": 0.25, "fail_first": failures,
                                         "max_retries": failures + 1, "retry_delay": 0.5}]}


def judge_retry_success(params: dict, obs: dict) -> None:
    results = _completed_run(params, obs)
    (spec,) = params["tasks"]
    got = results[spec["id"]]
    if got["status"] != "completed" or got["retries"] != spec["fail_first"]:
        raise CheckFailed(f"前 {spec['fail_first']} 次失败、第 {spec['fail_first'] + 1} 次成功的任务应为 completed "
                          f"且 retries={spec['fail_first']}，实际 {got['status']}，retries={got['retries']}")


def scenario_retry_limit(rng: random.Random) -> dict:
    return {"max_workers": 3, "tasks": [{"id": _ids(rng, 1)[0], "seconds": 0.25, "broken": True,
                                         "max_retries": rng.randint(1, 3), "retry_delay": 0.25}]}


def judge_retry_limit(params: dict, obs: dict) -> None:
    results = _completed_run(params, obs)
    (spec,) = params["tasks"]
    allowed = spec["max_retries"] + 1
    attempts = len(obs["starts"].get(spec["id"], []))
    if attempts != allowed:
        raise CheckFailed(f"max_retries={spec['max_retries']} 的任务最多尝试 {allowed} 次，实际尝试了 {attempts} 次")
    got = results[spec["id"]]
    if got["status"] != "failed" or f"第 {allowed} 次" not in got["error"]:
        raise CheckFailed(f"一直失败的任务应为 failed，并在 error 里保留最后一次的异常；"
                          f"实际 {got['status']}，error={got['error']!r}")


def scenario_backoff(rng: random.Random) -> dict:
    return {"max_workers": 3, "tasks": [{"id": _ids(rng, 1)[0], "seconds": 0.0, "fail_first": 3,
                                         "max_retries": 3, "retry_delay": rng.choice((0.5, 1.0, 2.0))}]}


def judge_backoff(params: dict, obs: dict) -> None:
    _completed_run(params, obs)
    (spec,) = params["tasks"]
    delay = spec["retry_delay"]
    expected = [0.0, delay, 3 * delay, 7 * delay]
    starts = [round(t, 3) for t in obs["starts"].get(spec["id"], [])]
    if starts != expected:
        late = len(starts) == len(expected) and all(0 <= s - e <= 0.5 for s, e in zip(starts, expected))
        raise CheckFailed(f"retry_delay={delay:g} 时，第 k 次重试前应等 {delay:g}×2^(k-1) 秒，"
                          f"即在 {'、'.join(f'{t:g}' for t in expected)} 秒开始尝试；实际在 {starts} 秒"
                          + ("。每次都晚一点点，看起来是用 sleep 定时轮询造成的：退避结束的那一刻就该开始" if late else ""))


def scenario_backoff_frees_slot(rng: random.Random) -> dict:
    flaky, other = _ids(rng, 2)
    delay = rng.choice((2.0, 3.0, 4.0))
    return {"max_workers": 1, "tasks": [
        {"id": flaky, "seconds": _seconds(rng, 0.25, 1.0), "fail_first": 1, "max_retries": 1,
         "retry_delay": delay, "priority": 0},
        {"id": other, "seconds": _seconds(rng, 0.25, delay - 0.5), "priority": 1},
    ]}


def judge_backoff_frees_slot(params: dict, obs: dict) -> None:
    _completed_run(params, obs)
    flaky, other = params["tasks"]
    failed_at = (obs["ends"].get(flaky["id"]) or [None])[0]
    other_at = _start(obs, other["id"])
    if failed_at is None or other_at is None:
        raise CheckFailed(f"任务 {flaky['id']} 或 {other['id']} 没有运行")
    retried_at = obs["starts"][flaky["id"]][1:2] or [None]
    if failed_at + EPSILON < other_at and (retried_at[0] is None or other_at < retried_at[0]):
        _at_once(other["id"], other_at, failed_at, f"{flaky['id']} 失败后退避，工作槽")  # started late, not held
    if other_at > failed_at + EPSILON:
        raise CheckFailed(f"只有 1 个工作槽：{flaky['id']} 在 t={failed_at:g} 第一次失败，要等 {flaky['retry_delay']:g} 秒"
                          f"再重试，这段时间工作槽空着，{other['id']} 应在 t={failed_at:g} 开始；实际在 t={other_at:g}："
                          "退避期间别占着工作槽（章节参考答案的 Bug 5）")


# ------------------------------------------------------------------ monitoring

def _counts(results: dict[str, dict]) -> dict[str, int]:
    statuses = [r["status"] for r in results.values()]
    return {"total": len(statuses), "completed": statuses.count("completed"),
            "failed": statuses.count("failed") + statuses.count("timeout")}


def scenario_final_stats(rng: random.Random) -> dict:
    ok, bad, late = rng.randint(1, 3), rng.randint(1, 2), rng.randint(1, 2)
    ids = _ids(rng, ok + bad + late)
    tasks = ([{"id": tid, "seconds": _seconds(rng)} for tid in ids[:ok]]
             + [{"id": tid, "seconds": 0.25, "broken": True, "max_retries": 0} for tid in ids[ok:ok + bad]]
             + [{"id": tid, "seconds": 5.0, "timeout": 1.0, "max_retries": 0} for tid in ids[ok + bad:]])
    rng.shuffle(tasks)
    return {"max_workers": len(tasks), "tasks": tasks}


def judge_final_stats(params: dict, obs: dict) -> None:
    results = _completed_run(params, obs)
    # Compared with the final states run() reported, so a bug elsewhere (a
    # timeout that never fires, say) does not cost points here as well.
    expected = _counts(results)
    stats = obs.get("stats") if isinstance(obs.get("stats"), dict) else {}
    got = {key: stats.get(key) for key in expected}
    if got != expected:
        raise CheckFailed(f"任务的最终状态是 {[r['status'] for r in results.values()]}，"
                          f"get_stats() 应为 {expected}（failed 包括 timeout），实际 {got}")


def scenario_status_counts(rng: random.Random) -> dict:
    ids = _ids(rng, rng.randint(2, 4))
    tasks = [{"id": ids[0], "seconds": _seconds(rng)}]
    tasks += [{"id": tid, "seconds": _seconds(rng), "deps": [ids[0]]} for tid in ids[1:]]
    return {"max_workers": 2, "tasks": tasks}


def judge_status_counts(params: dict, obs: dict) -> None:
    results = _completed_run(params, obs)
    status = (obs.get("stats") or {}).get("status") if isinstance(obs.get("stats"), dict) else None
    if not isinstance(status, dict) or any(name not in status for name in STATES):
        raise CheckFailed(f"get_stats()['status'] 应给出全部 7 种状态各自的数量，实际是 {status!r:.120}")
    actual = {name: [r["status"] for r in results.values()].count(name) for name in STATES}
    got = {name: status[name] for name in STATES}
    if got != actual:
        raise CheckFailed(f"get_stats()['status'] 与任务的实际状态不符：应为 {actual}，实际 {got}")


def scenario_stats_during_run(rng: random.Random) -> dict:
    workers = rng.randint(2, 3)
    seconds = _seconds(rng, 1.5, 3.0)
    return {"max_workers": workers, "peek": seconds / 2,  # halfway through the first wave
            "tasks": [{"id": tid, "seconds": seconds} for tid in _ids(rng, 2 * workers)]}


def judge_stats_during_run(params: dict, obs: dict) -> None:
    _completed_run(params, obs)
    peek = obs.get("peek") or {}
    stats = peek.get("stats") if isinstance(peek.get("stats"), dict) else {}
    status = stats.get("status") if isinstance(stats.get("status"), dict) else {}
    running = status.get("running", stats.get("running"))
    really = peek.get("running")
    if not really or running != really:
        raise CheckFailed(f"运行到一半时有 {really} 个任务正在运行，get_stats() 却显示 {running!r}")


def _check(key: str, name: str, points: int, observe_with: Any = observe) -> Check:
    functions = globals()
    return Check(key, name, points, functions[f"scenario_{key}"], observe_with, functions[f"judge_{key}"])


CRITERIA = (
    Criterion("priority", "优先级队列", (
        _check("priority_order", "优先级数字小的先执行", 8),
        _check("fifo_ties", "优先级相同按加入顺序执行", 6),
        _check("starts_at_once", "工作槽一空出就启动下一个任务（事件驱动，不轮询）", 6),
    ), todo="add_task 登记任务并记下加入顺序；run() 把任务按（priority，加入顺序）放进堆（heapq），"
            "每当有空闲的工作槽，就弹出最优先的任务交给 process_task 运行，全部结束后返回 {任务id: Task}"),
    Criterion("dependencies", "依赖关系", (
        _check("waits_for_dependency", "任务等所有依赖完成后才开始", 5),
        _check("passes_result", "依赖的结果作为位置参数传入（章节的 task_b）", 5),
        _check("best_ready_next", "依赖一完成，就和其他就绪任务按优先级竞争工作槽", 5),
        _check("failed_dependency", "上游失败时下游被取消且不会卡住", 5),
        _check("bad_graphs", "循环依赖和未知依赖抛出 ValueError", 5, observe_bad_graphs),
    ), todo="run() 开始前检查依赖（未知的 id 或循环 → ValueError）；任务的依赖全部 completed 后才进入堆，"
            "依赖的结果作为额外的位置参数传给它；上游失败、超时或取消时，下游全部变成 cancelled"),
    Criterion("concurrency_timeout", "并发控制和超时", (
        _check("max_workers", "同时运行的任务不超过 max_workers", 7),
        _check("concurrent", "真正并发地使用所有工作槽", 6),
        _check("timeout", "超时的任务被取消并标记为 timeout", 7),
    ), todo="让最多 max_workers 个任务同时运行（每个任务一个 asyncio 任务，用计数或 Semaphore 限制名额）；"
            "每次尝试用 asyncio.wait_for(…, task.timeout) 包住，超时的任务最终状态是 timeout"),
    Criterion("retry", "重试机制", (
        _check("retry_success", "失败后重试直到成功，retries 计数正确", 4),
        _check("retry_limit", "最多尝试 1 + max_retries 次，error 保留最后的异常", 4),
        _check("backoff", "指数退避：retry_delay × 2^(k-1)", 4),
        _check("backoff_frees_slot", "退避等待期间不占工作槽", 3),
    ), todo="process_task 捕获异常后重试：最多尝试 1 + max_retries 次，第 k 次重试前等 "
            "retry_delay * 2 ** (k - 1) 秒，等待期间把工作槽让给别的任务；task.retries 记重试次数，"
            "task.error 留最后一个异常"),
    Criterion("monitoring", "实时监控和统计", (
        _check("final_stats", "结束后 total/completed/failed 正确（failed 含超时）", 7),
        _check("status_counts", "status 给出 7 种状态的数量", 6),
        _check("stats_during_run", "运行途中 get_stats() 反映正在运行的任务", 7),
    ), todo="get_stats() 返回 total、completed、failed（含 timeout）和 status（7 种状态各有几个）；"
            "状态随运行及时更新，run() 运行途中调用也要准确"),
)
