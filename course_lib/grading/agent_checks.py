"""Challenge 2 checks: what a learner's agent system must do.

How the grader drives a submission (the contract in
``exercises/challenge2_agents.py``)::

    coordinator = Coordinator()
    for agent in agents:
        await agent.connect(coordinator)
    runner = asyncio.create_task(coordinator.run())        # the coordinator's loop
    runs = {a.id: asyncio.create_task(a.run()) for a in agents}   # each agent's loop
    task_id = await coordinator.assign_task({"type": AgentCapability.SEARCH, ...})
    ...   # coordinator.results[task_id] appears when the task is done
    runs["search-1"].cancel()                               # a crash, mid-task

Agents are the grader's own subclasses of the submission's ``BaseAgent``:
they record every task they are given (start and end on the loop clock)
and every message they send, take ``work * speed`` seconds per task, can
fail on purpose, and can go *silent* for a while (alive, still working, but
their heartbeats are lost and their results arrive late).  Everything runs
on the virtual clock.

As for challenge 1 (see scheduler_checks.py), each check draws its scenario
in the grader (agent ids, speeds, task numbers and lengths from the grading
seed), the child only runs it and reports what happened, and the grader
judges.  Busy spells stay under the heartbeat timeout except where a check
is about exactly that, so one bug costs points under one criterion.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Callable, Optional

from ..vclock import VirtualClockStall, run_virtual
from .observations import jsonable
from .rubric import Check, CheckFailed, Criterion

__all__ = ["CRITERIA"]

RESULT_LIMIT = 30.0  # virtual seconds to wait for results
EPSILON = 1e-6
HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT = 1.0, 3.0  # the exercise's constants
NAMES = {"search": ("search", "finder", "web"), "calculate": ("calc", "math", "abacus"),
         "summarize": ("summary", "digest"), "translate": ("translate", "lingo")}
CAPABILITIES = tuple(NAMES)


# ------------------------------------------------------------ the child side

class Recorder:
    """What the grader's agents saw: every task call and every message sent."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []


def _agent_class(sub: Any, record: Recorder) -> type:
    class GradedAgent(sub.BaseAgent):
        def __init__(self, spec: dict[str, Any]) -> None:
            super().__init__(spec["id"], {sub.AgentCapability(c) for c in spec["caps"]})
            self.speed = spec.get("speed", 1.0)
            self.failures = spec.get("fail", 0)  # fail this many tasks first; -1: every one
            self.silent = spec.get("silent")  # [start, end): alive but unheard
            original = self.send_message

            async def send(message: Any) -> Any:
                loop = asyncio.get_running_loop()
                kind = str(jsonable(getattr(message, "type", None)))
                if self.silent and self.silent[0] <= loop.time() < self.silent[1]:
                    if kind == "heartbeat":
                        return None  # lost
                    await asyncio.sleep(self.silent[1] - loop.time())  # arrives late
                record.sent.append({"t": loop.time(), "type": kind, "agent": self.id,
                                    "sender": str(jsonable(getattr(message, "sender", None)))})
                return await original(message)

            self.send_message = send

        async def process_task(self, task: dict) -> Any:
            loop = asyncio.get_running_loop()
            call = {"agent": self.id, "n": task.get("n"), "start": loop.time()}
            record.calls.append(call)
            try:
                await asyncio.sleep(task.get("work", 1.0) * self.speed)
            except asyncio.CancelledError:
                call["cancelled"] = True
                raise
            finally:
                call["end"] = loop.time()
            if self.failures:
                self.failures -= self.failures > 0
                call["failed"] = True
                raise RuntimeError(f"{self.id} 故意失败")
            return {"agent": self.id, "n": task.get("n")}

    return GradedAgent


class Harness:
    """A running system of the submission's coordinator and the grader's agents."""

    def __init__(self, sub: Any, coordinator: Any, agents: dict, runs: dict, seen: dict) -> None:
        self.sub, self.coordinator, self.agents, self.runs, self.seen = sub, coordinator, agents, runs, seen
        self.ids: dict[int, Any] = {}  # task number -> the id assign_task returned

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def submit(self, kind: str, n: int, work: float = 0.5) -> Any:
        before = self.now()
        task_id = await self.coordinator.assign_task(
            {"type": self.sub.AgentCapability(kind), "n": n, "work": work})
        self.seen.setdefault("submitted", []).append(
            {"n": n, "kind": kind, "at": before, "took": self.now() - before, "id": jsonable(task_id)})
        if not isinstance(task_id, str):
            raise CheckFailed(f"assign_task() 应立刻返回任务 id（字符串），实际返回了 {task_id!r:.80}")
        self.ids[n] = task_id
        return task_id

    async def wait_results(self, limit: float = RESULT_LIMIT) -> float:
        """Wait (virtual time) until every submitted task has a result; return the time."""
        deadline = self.now() + limit
        while not all(task_id in self.results() for task_id in self.ids.values()):
            if self.now() >= deadline:
                missing = [n for n, task_id in self.ids.items() if task_id not in self.results()]
                raise CheckFailed(f"{limit:g} 秒后 coordinator.results 里仍然没有任务 {missing} 的结果")
            await asyncio.sleep(0.05)  # the grader's own wait; the virtual clock makes it free
        return self.now()

    def results(self) -> dict:
        results = getattr(self.coordinator, "results", None)
        return results if isinstance(results, dict) else {}

    def result_numbers(self) -> dict[str, Any]:
        """Each submitted task's result, by task number (absent when there is none)."""
        results = self.results()
        return {str(n): jsonable(results[task_id]) for n, task_id in self.ids.items() if task_id in results}

    def info(self, agent_id: str) -> dict[str, Any]:
        info = (getattr(self.coordinator, "agents", None) or {}).get(agent_id)
        if info is None:
            return {"missing": True}
        return {"caps": jsonable(getattr(info, "capabilities", None)),
                "status": jsonable(getattr(info, "status", None)),
                "completed": jsonable(getattr(info, "tasks_completed", None)),
                "last_heartbeat": jsonable(getattr(info, "last_heartbeat", None))}

    def stats(self) -> Any:
        return jsonable(self.coordinator.get_stats())


def run_system(sub: Any, params: dict[str, Any], body: Callable[[Harness], Any]) -> dict[str, Any]:
    """Start the coordinator and the agents of *params*, run ``await body(harness)``, stop
    everything; return what happened."""
    record, seen = Recorder(), {}
    Agent = _agent_class(sub, record)

    async def main() -> None:
        coordinator = sub.Coordinator()
        agents = {}
        for spec in params["agents"]:
            agents[spec["id"]] = Agent(spec)
            await agents[spec["id"]].connect(coordinator)
        runner = asyncio.ensure_future(coordinator.run())
        runs = {agent_id: asyncio.ensure_future(agent.run()) for agent_id, agent in agents.items()}
        await asyncio.sleep(0.01)
        try:
            await body(Harness(sub, coordinator, agents, runs, seen))
        finally:
            for task in (*runs.values(), runner):
                task.cancel()
            await asyncio.wait_for(asyncio.gather(*runs.values(), runner, return_exceptions=True), 10)

    try:
        run_virtual(main(), stall_timeout=2.0)
    except VirtualClockStall:
        seen["deadlock"] = True
    except TimeoutError:
        seen["stuck_stopping"] = True
    return {**seen, "calls": record.calls, "sent": record.sent}


def _observe(body: Callable[[Harness, dict], Any]) -> Callable[[Any, dict], dict]:
    """An observe function running *body(harness, params)* in the scenario's system."""
    def observe(sub: Any, params: dict[str, Any]) -> dict[str, Any]:
        return run_system(sub, params, lambda harness: body(harness, params))
    return observe


# ----------------------------------------------------------- the grader side

def _agent_ids(rng: random.Random, caps: list[list[str]]) -> list[dict[str, Any]]:
    """Agent specs with distinct ids named after their first capability."""
    agents, taken = [], set()
    for capabilities in caps:
        while (name := f"{rng.choice(NAMES[capabilities[0]])}-{rng.randint(1, 99)}") in taken:
            pass
        taken.add(name)
        agents.append({"id": name, "caps": capabilities})
    return agents


def _numbers(rng: random.Random, k: int) -> list[int]:
    return rng.sample(range(100, 1000), k)


def _work(rng: random.Random, low: float = 0.25, high: float = 1.0) -> float:
    return rng.randrange(int(low * 4), int(high * 4) + 1) / 4


def _ran(params: dict, obs: dict) -> None:
    """CheckFailed when the system could not even run or stop, or the observations contradict
    themselves (see `_consistent`)."""
    if obs.get("deadlock"):
        raise CheckFailed("程序死锁：所有协程都在等待，却没有任何计时器或消息能唤醒它们")
    if obs.get("stuck_stopping"):
        raise CheckFailed("取消 coordinator.run() 和 agent.run() 后，它们 10 秒内没有停下来")
    _consistent(params, obs)


def _consistent(params: dict, obs: dict) -> None:
    """CheckFailed unless every observed task call could have happened: a known
    agent, a submitted task, and (unless cut short by a crash) exactly the time
    the grader's agent takes for it.  A forger must produce a whole consistent
    run, which is solving the exercise."""
    speeds = {agent["id"]: agent.get("speed", 1.0) for agent in params["agents"]}
    work = {task["n"]: task.get("work", 0.5) for task in params.get("tasks", [])}
    for call in obs["calls"]:
        took = call.get("end", call["start"]) - call["start"]
        expected = work.get(call["n"], -1.0) * speeds.get(call["agent"], -1.0)
        if call["agent"] not in speeds or call["n"] not in work or took < -EPSILON \
                or (took > expected + EPSILON if call.get("cancelled") or "end" not in call
                    else abs(took - expected) > EPSILON):
            raise CheckFailed(f"检查进程报告的观测数据前后矛盾（{call['agent']} 处理任务 {call['n']} 的记录不对）："
                              "可能是你的代码改动了评分用的代码")


def _done(params: dict, obs: dict, numbers: list[int]) -> dict[str, Any]:
    """The results by task number; CheckFailed unless each is the right agent's answer to it."""
    _ran(params, obs)
    results = obs.get("results", {})
    wrong = {n: results.get(str(n)) for n in numbers
             if not isinstance(results.get(str(n)), dict) or results[str(n)].get("n") != n}
    if wrong:
        raise CheckFailed(f"coordinator.results 里任务的结果不对或缺失（按任务编号）：{wrong}")
    return results


def _handled(obs: dict, agent: str) -> list[int]:
    return sorted(c["n"] for c in obs["calls"] if c["agent"] == agent and "failed" not in c
                  and "cancelled" not in c)


# --------------------------------------------------------------- registration

def scenario_cards(rng: random.Random) -> dict:
    caps = [sorted(rng.sample(CAPABILITIES, rng.randint(1, 3))) for _ in range(rng.randint(2, 3))]
    return {"agents": _agent_ids(rng, caps)}


async def _cards(h: Harness, params: dict) -> None:
    h.seen["infos"] = {spec["id"]: h.info(spec["id"]) for spec in params["agents"]}


def judge_cards(params: dict, obs: dict) -> None:
    _ran(params, obs)
    for spec in params["agents"]:
        info = obs["infos"][spec["id"]]
        if info.get("missing"):
            raise CheckFailed(f"connect() 之后 coordinator.agents 里没有 {spec['id']!r}")
        got = sorted(map(str, info["caps"] or []))
        if got != spec["caps"]:
            raise CheckFailed(f"{spec['id']} 注册的能力应为 {spec['caps']}，AgentInfo 里是 {got}")
        if info["status"] != "idle":
            raise CheckFailed(f"刚注册、没有任务的 {spec['id']} 状态应为 idle，实际是 {info['status']}")


def scenario_multi_capability(rng: random.Random) -> dict:
    caps = sorted(rng.sample(CAPABILITIES, rng.randint(2, 3)))
    return {"agents": _agent_ids(rng, [caps]),
            "tasks": [{"kind": kind, "n": n} for kind, n in zip(caps, _numbers(rng, len(caps)))]}


async def _submit_all_and_wait(h: Harness, params: dict) -> None:
    for task in params["tasks"]:
        await h.submit(task["kind"], task["n"], task.get("work", 0.5))
    h.seen["finished"] = await h.wait_results()
    h.seen["results"] = h.result_numbers()
    h.seen["infos"] = {spec["id"]: h.info(spec["id"]) for spec in params["agents"]}
    h.seen["stats"] = h.stats()


def judge_multi_capability(params: dict, obs: dict) -> None:
    numbers = [t["n"] for t in params["tasks"]]
    _done(params, obs, numbers)
    (agent,) = params["agents"]
    if _handled(obs, agent["id"]) != sorted(numbers):
        raise CheckFailed(f"同时会 {'、'.join(agent['caps'])} 的 {agent['id']} 应每类任务都接，"
                          f"实际只处理了 {_handled(obs, agent['id'])}")


def scenario_completed_counter(rng: random.Random) -> dict:
    (agent,) = _agent_ids(rng, [["search"]])
    return {"agents": [agent], "tasks": [{"kind": "search", "n": n, "work": _work(rng, 0.25, 0.5)}
                                         for n in _numbers(rng, rng.randint(3, 4))]}


def judge_completed_counter(params: dict, obs: dict) -> None:
    _done(params, obs, [t["n"] for t in params["tasks"]])
    (agent,) = params["agents"]
    done, expected = obs["infos"][agent["id"]].get("completed"), len(params["tasks"])
    if done != expected:
        raise CheckFailed(f"{agent['id']} 完成 {expected} 个任务后，AgentInfo.tasks_completed 应为 {expected}，"
                          f"实际是 {done!r}")


# ------------------------------------------------------- dispatch + balancing

def scenario_routing(rng: random.Random) -> dict:
    kinds = ["search", *rng.sample(CAPABILITIES[1:], rng.randint(1, 2))]  # search: the common one
    rng.shuffle(kinds)
    agents = _agent_ids(rng, [[kind] for kind in kinds])
    tasks = [{"kind": rng.choice(kinds), "n": n, "work": _work(rng, 0.25, 0.5)}
             for n in _numbers(rng, rng.randint(4, 6))]
    return {"agents": agents, "tasks": tasks}


def judge_routing(params: dict, obs: dict) -> None:
    _done(params, obs, [t["n"] for t in params["tasks"]])
    kind_of = {t["n"]: t["kind"] for t in params["tasks"]}
    caps = {a["id"]: a["caps"] for a in params["agents"]}
    wrong = [f"{c['n']}（{kind_of.get(c['n'])}）→ {c['agent']}" for c in obs["calls"]
             if kind_of.get(c["n"]) not in caps.get(c["agent"], [])]
    if wrong:
        raise CheckFailed(f"任务只能交给有相应能力的 Agent（{caps}）；实际分配错了：{'、'.join(wrong)}")


def scenario_idle_before_busy(rng: random.Random) -> dict:
    agents = _agent_ids(rng, [["search"]] * rng.randint(2, 3))
    for agent in agents:
        agent["speed"] = rng.choice((0.75, 1.0))
    # One long task and short ones at once; then, while the long one still
    # runs, more short tasks: each must go to an idle agent, not queue behind it.
    numbers = _numbers(rng, len(agents) + 2)
    tasks = [{"kind": "search", "n": numbers[0], "work": 2.0, "at": 0.0}]
    tasks += [{"kind": "search", "n": n, "work": _work(rng, 0.25, 0.5), "at": 0.0}
              for n in numbers[1:len(agents)]]
    at = 0.75
    for n in numbers[len(agents):]:
        tasks.append({"kind": "search", "n": n, "work": _work(rng, 0.25, 0.5), "at": at})
        at += rng.choice((0.25, 0.5))
    return {"agents": agents, "tasks": tasks}


async def _staggered(h: Harness, params: dict) -> None:
    start = h.now()
    for task in params["tasks"]:
        await asyncio.sleep(max(0.0, start + task["at"] - h.now()))
        await h.submit(task["kind"], task["n"], task["work"])
    await h.wait_results()
    h.seen["results"] = h.result_numbers()


def judge_idle_before_busy(params: dict, obs: dict) -> None:
    _done(params, obs, [t["n"] for t in params["tasks"]])
    calls = [c for c in obs["calls"] if "end" in c]
    for submitted in obs["submitted"]:
        at = submitted["at"]
        busy = {c["agent"] for c in calls if c["start"] <= at < c["end"] and c["n"] != submitted["n"]}
        idle = [a["id"] for a in params["agents"] if a["id"] not in busy]
        mine = next((c for c in calls if c["n"] == submitted["n"]), None)
        if not idle or mine is None:
            continue
        late = mine["start"] - at > 0.25
        if late or mine["agent"] in busy:
            raise CheckFailed(
                f"任务 {submitted['n']} 在 t={at:g} 提交时 {'、'.join(idle)} 空闲，却交给了"
                f"{'正在忙的 ' if mine['agent'] in busy else ''}{mine['agent']}，t={mine['start']:g} 才开始："
                "有空闲的 Agent 时应先交给空闲的，而不是排在忙碌的 Agent 后面")


def scenario_assign_at_once(rng: random.Random) -> dict:
    (agent,) = _agent_ids(rng, [["search"]])
    return {"agents": [agent], "tasks": [{"kind": "search", "n": n, "work": 0.5}
                                         for n in _numbers(rng, rng.randint(3, 4))]}


def judge_assign_at_once(params: dict, obs: dict) -> None:
    _ran(params, obs)
    submitted = obs["submitted"]
    took = sum(s["took"] for s in submitted)
    if took > 0.0:
        raise CheckFailed(f"assign_task() 应立刻返回任务 id，不等任务做完；{len(submitted)} 次调用用了 {took:g} 秒")
    ids = [s["id"] for s in submitted]
    if len(set(map(str, ids))) != len(ids):
        raise CheckFailed(f"每个任务应有不同的 id，实际是 {ids}")
    _done(params, obs, [t["n"] for t in params["tasks"]])


# ------------------------------------------------------------------ messaging

def scenario_result_messages(rng: random.Random) -> dict:
    (agent,) = _agent_ids(rng, [["search"]])
    return {"agents": [agent], "tasks": [{"kind": "search", "n": n, "work": _work(rng, 0.25, 0.75)}
                                         for n in _numbers(rng, rng.randint(1, 2))]}


def judge_result_messages(params: dict, obs: dict) -> None:
    _ran(params, obs)
    (agent,) = params["agents"]
    results = [m for m in obs["sent"] if m["type"] == "task_result"]
    if len(results) < len(params["tasks"]):
        kinds = sorted({m["type"] for m in obs["sent"]})
        raise CheckFailed(f"Agent 应通过 send_message(Message(type=TASK_RESULT, …)) 把每个结果发回，"
                          f"{len(params['tasks'])} 个任务只发了 {len(results)} 条 TASK_RESULT"
                          f"（发送过的消息类型：{kinds or '没有'}）")
    if any(m["sender"] != agent["id"] for m in results):
        raise CheckFailed(f"TASK_RESULT 消息的 sender 应是发送它的 Agent 的 id（{agent['id']}）")


def scenario_heartbeat_idle(rng: random.Random) -> dict:
    return {"agents": _agent_ids(rng, [["search"]]), "watch": rng.choice((5.0, 6.0, 7.0))}


async def _idle_for(h: Harness, params: dict) -> None:
    await asyncio.sleep(params["watch"])


def _beats(obs: dict, agent: str, start: float, end: float) -> list[float]:
    return [m["t"] for m in obs["sent"] if m["type"] == "heartbeat" and m["agent"] == agent
            and start <= m["t"] <= end]


def _largest_gap(times: list[float], start: float, end: float) -> float:
    points = [start, *times, end]
    return max(b - a for a, b in zip(points, points[1:]))


def judge_heartbeat_idle(params: dict, obs: dict) -> None:
    _ran(params, obs)
    (agent,) = params["agents"]
    watch = params["watch"]
    beats = _beats(obs, agent["id"], 0.0, watch)
    if _largest_gap(beats, 1.5, watch) > 1.5:
        raise CheckFailed(f"空闲的 Agent 也应通过 send_message 定期（至少每 1.5 秒）发送 HEARTBEAT 消息；"
                          f"{watch:g} 秒内只在 {[round(b, 2) for b in beats]} 秒发了")


def scenario_heartbeat_busy(rng: random.Random) -> dict:
    (agent,) = _agent_ids(rng, [["search"]])
    return {"agents": [agent], "tasks": [{"kind": "search", "n": _numbers(rng, 1)[0],
                                          "work": rng.choice((4.5, 5.0, 6.0))}]}


def judge_heartbeat_busy(params: dict, obs: dict) -> None:
    _ran(params, obs)
    (agent,) = params["agents"]
    first = next((c for c in obs["calls"] if c["agent"] == agent["id"]), None)
    if first is None or "end" not in first:
        raise CheckFailed(f"{agent['id']} 没有处理任务 {params['tasks'][0]['n']}")
    beats = _beats(obs, agent["id"], first["start"], first["end"])
    if _largest_gap(beats, first["start"], first["end"]) > 1.5:
        raise CheckFailed(f"Agent 处理一个要 {first['end'] - first['start']:g} 秒的任务时也要照常发心跳"
                          f"（至少每 1.5 秒）；实际在 t={first['start']:g}…{first['end']:g} 之间只在 "
                          f"{[round(b, 2) for b in beats]} 秒发了：超过 {HEARTBEAT_TIMEOUT:g} 秒没有心跳，"
                          "长任务会被当成掉线、一遍遍重做")


# ------------------------------------------------------------ fault tolerance

def scenario_failover(rng: random.Random) -> dict:
    return {"agents": _agent_ids(rng, [["search"], ["search"]]), "crash_at": rng.choice((0.25, 0.5, 1.0)),
            "tasks": [{"kind": "search", "n": _numbers(rng, 1)[0], "work": 2.0}]}


async def _crash_the_busy_one(h: Harness, params: dict) -> None:
    await h.submit("search", params["tasks"][0]["n"], params["tasks"][0]["work"])
    await asyncio.sleep(params["crash_at"])
    busy = [a["id"] for a in params["agents"] if h.info(a["id"]).get("status") == "busy"]
    victim = (busy or [params["agents"][0]["id"]])[0]
    h.seen["victim"] = victim
    h.runs[victim].cancel()  # the crash: its run() dies mid-task
    await h.wait_results(limit=15.0)
    h.seen["results"] = h.result_numbers()


def judge_failover(params: dict, obs: dict) -> None:
    n = params["tasks"][0]["n"]
    _done(params, obs, [n])
    victim = obs["victim"]
    survivor = next(a["id"] for a in params["agents"] if a["id"] != victim)
    if _handled(obs, survivor) != [n] or _handled(obs, victim):
        raise CheckFailed(f"{victim} 做到一半崩溃后，任务应交给另一个 Agent 完成；"
                          f"实际 {survivor} 完成了 {_handled(obs, survivor)}")


def scenario_offline(rng: random.Random) -> dict:
    return {"agents": _agent_ids(rng, [["search"], ["search"]]), "watch": rng.choice((5.0, 6.0, 8.0))}


async def _crash_one(h: Harness, params: dict) -> None:
    h.runs[params["agents"][0]["id"]].cancel()
    await asyncio.sleep(params["watch"])
    h.seen["infos"] = {spec["id"]: h.info(spec["id"]) for spec in params["agents"]}


def judge_offline(params: dict, obs: dict) -> None:
    _ran(params, obs)
    crashed, alive = (obs["infos"][a["id"]].get("status") for a in params["agents"])
    first, second = (a["id"] for a in params["agents"])
    if crashed != "offline" or alive == "offline":
        raise CheckFailed(f"{first} 停止发心跳 {params['watch']:g} 秒后应被标为 offline（另一个仍在线）；"
                          f"实际 {first} 是 {crashed}，{second} 是 {alive}")


def scenario_retry(rng: random.Random) -> dict:
    agents = _agent_ids(rng, [["search"], ["search"]])
    for agent in agents:
        agent["fail"] = 1
    return {"agents": agents, "tasks": [{"kind": "search", "n": _numbers(rng, 1)[0], "work": 0.5}]}


def judge_retry(params: dict, obs: dict) -> None:
    n = params["tasks"][0]["n"]
    try:
        _done(params, obs, [n])
    except CheckFailed as exc:
        raise CheckFailed(f"处理时抛出异常的任务应交给 Agent 重试并最终完成；{exc}") from None


def scenario_retry_limit(rng: random.Random) -> dict:
    agents = _agent_ids(rng, [["search"]] * rng.randint(1, 2))
    for agent in agents:
        agent["fail"] = -1
    return {"agents": agents, "tasks": [{"kind": "search", "n": _numbers(rng, 1)[0], "work": 0.25}],
            "watch": 20.0}


async def _submit_and_watch(h: Harness, params: dict) -> None:
    await h.submit("search", params["tasks"][0]["n"], params["tasks"][0]["work"])
    await asyncio.sleep(params["watch"])
    h.seen["results"] = h.result_numbers()


def judge_retry_limit(params: dict, obs: dict) -> None:
    _ran(params, obs)
    n = params["tasks"][0]["n"]
    attempts = len([c for c in obs["calls"] if c["n"] == n])
    if attempts != 3:
        raise CheckFailed(f"一直失败的任务最多尝试 3 次，然后算作失败；{params['watch']:g} 秒里实际尝试了 {attempts} 次")
    if str(n) in obs["results"]:
        raise CheckFailed(f"失败了 3 次的任务不应出现在 coordinator.results 里，实际是 {obs['results'][str(n)]!r:.80}")


def scenario_late_answer(rng: random.Random) -> dict:
    slow, fast = _agent_ids(rng, [["search"], ["calculate", "search"]])
    # The slow one takes the task, goes silent (alive, unheard) past the timeout,
    # finishes at t=5 and its answer arrives when the silence ends.
    slow.update(speed=5.0, silent=[0.5, rng.choice((7.0, 7.5))])
    warmup, task = _numbers(rng, 2)
    return {"agents": [slow, fast], "tasks": [
        {"kind": "calculate", "n": warmup, "work": 2.0},  # only the fast one can: it is busy first
        {"kind": "search", "n": task, "work": 1.0},  # so the slow one takes this one
    ], "watch": 12.0}


async def _late(h: Harness, params: dict) -> None:
    warmup, task = params["tasks"]
    start = h.now()
    await h.submit(warmup["kind"], warmup["n"], warmup["work"])
    await asyncio.sleep(0.05)
    await h.submit(task["kind"], task["n"], task["work"])
    silent_until = params["agents"][0]["silent"][1]
    await asyncio.sleep(max(0.0, start + silent_until - 0.1 - h.now()))  # just before the late answer
    h.seen["before"] = _counted(h, params)
    await asyncio.sleep(params["watch"] - silent_until)
    h.seen["after"] = _counted(h, params)
    h.seen["results"] = h.result_numbers()


def _counted(h: Harness, params: dict) -> dict[str, Any]:
    stats = h.stats()
    return {"t": h.now(), "results": h.result_numbers(),
            "completed": stats.get("completed") if isinstance(stats, dict) else None,
            "cards": sum(h.info(spec["id"]).get("completed") or 0 for spec in params["agents"])}


def judge_late_answer(params: dict, obs: dict) -> None:
    numbers = [t["n"] for t in params["tasks"]]
    _done(params, obs, numbers)
    slow = params["agents"][0]["id"]
    before, after = obs["before"], obs["after"]
    if len(before["results"]) != len(numbers):
        raise CheckFailed(f"{slow} 沉默超过 {HEARTBEAT_TIMEOUT:g} 秒后，它的任务应转给别的 Agent 完成；"
                          f"到 t={before['t']:g} 还只有 {len(before['results'])} 个任务完成")
    changed = [what for what, key in (("coordinator.results", "results"), ("get_stats()['completed']", "completed"),
                                      ("各 Agent 的 tasks_completed", "cards")) if before[key] != after[key]]
    if changed:
        raise CheckFailed(f"{slow} 的结果在任务已经由别人完成之后才到（迟到的结果），不应再算一次；"
                          f"它却改变了 {'、'.join(changed)}")


# ----------------------------------------------------------------- monitoring

def scenario_stats(rng: random.Random) -> dict:
    search, calc = _agent_ids(rng, [["search"], ["calculate"]])
    tasks = [{"kind": rng.choice(("search", "calculate")), "n": n, "work": _work(rng, 0.25, 0.5)}
             for n in _numbers(rng, rng.randint(3, 5))]
    return {"agents": [search, calc], "tasks": tasks}


def judge_stats(params: dict, obs: dict) -> None:
    _done(params, obs, [t["n"] for t in params["tasks"]])
    stats = obs["stats"] if isinstance(obs.get("stats"), dict) else {}
    total = len(params["tasks"])
    if stats.get("completed") != total:
        raise CheckFailed(f"{total} 个任务完成后，get_stats()['completed'] 应为 {total}，实际 {stats.get('completed')!r}")
    handled = {a["id"]: len(_handled(obs, a["id"])) for a in params["agents"]}
    agents = stats.get("agents") if isinstance(stats.get("agents"), dict) else {}
    per_agent = {a: (agents.get(a) or {}).get("completed") if isinstance(agents.get(a), dict) else None
                 for a in handled}
    if per_agent != handled:
        raise CheckFailed(f"get_stats()['agents'] 里每个 Agent 的 completed 应为 {handled}，实际 {per_agent}")


def scenario_stats_mid_run(rng: random.Random) -> dict:
    agents = _agent_ids(rng, [["search"], ["search"]])
    agents[0]["fail"] = 1  # one failed attempt, retried
    tasks = [{"kind": "search", "n": n, "work": _work(rng, 0.25, 0.75)} for n in _numbers(rng, 4)]
    # Right after handing out, and just after the first attempts end (one of them failed).
    return {"agents": agents, "tasks": tasks,
            "peeks": [0.0, min(tasks[0]["work"], tasks[1]["work"]) + 0.05]}


async def _peek_while_running(h: Harness, params: dict) -> None:
    start = h.now()
    for task in params["tasks"]:
        await h.submit(task["kind"], task["n"], task["work"])
    peeks = []
    for at in params["peeks"]:
        await asyncio.sleep(max(0.0, start + at - h.now()))
        peeks.append({"t": h.now(), "stats": h.stats(), "results": len(h.result_numbers())})
    await h.wait_results()
    peeks.append({"t": h.now(), "stats": h.stats(), "results": len(h.result_numbers())})
    h.seen["peeks"] = peeks
    h.seen["results"] = h.result_numbers()


def judge_stats_mid_run(params: dict, obs: dict) -> None:
    _done(params, obs, [t["n"] for t in params["tasks"]])
    for peek in obs["peeks"]:
        stats = peek["stats"] if isinstance(peek["stats"], dict) else {}
        if stats.get("completed") != peek["results"]:
            raise CheckFailed(f"get_stats() 应随时正确：t={peek['t']:g} 时 coordinator.results 里有 {peek['results']} 个"
                              f"结果，get_stats()['completed'] 却是 {stats.get('completed')!r}"
                              "（失败的尝试和刚交出去的任务都不算完成）")


def scenario_live_status(rng: random.Random) -> dict:
    (agent,) = _agent_ids(rng, [["search"]])
    work = rng.choice((1.0, 1.25, 1.5))
    # "after": idle long enough after the task for a fresh heartbeat.
    return {"agents": [agent], "tasks": [{"kind": "search", "n": _numbers(rng, 1)[0], "work": work}],
            "busy_at": work / 2, "after": 1.5}


async def _status_over_time(h: Harness, params: dict) -> None:
    (agent,) = params["agents"]
    task = params["tasks"][0]
    await h.submit(task["kind"], task["n"], task["work"])
    await asyncio.sleep(params["busy_at"])
    h.seen["during"] = h.info(agent["id"])
    await h.wait_results()
    await asyncio.sleep(params["after"])
    h.seen["after"] = h.info(agent["id"])
    h.seen["results"] = h.result_numbers()


def judge_live_status(params: dict, obs: dict) -> None:
    _ran(params, obs)
    during, after = obs["during"], obs["after"]
    if during.get("status") != "busy":
        raise CheckFailed(f"正在处理任务的 Agent 状态应为 busy，实际是 {during.get('status')}")
    first, later = during.get("last_heartbeat"), after.get("last_heartbeat")
    if not (isinstance(first, (int, float)) and isinstance(later, (int, float)) and later > first):
        raise CheckFailed(f"AgentInfo.last_heartbeat 应随心跳更新，实际从 {first!r} 变成了 {later!r}")


def scenario_back_to_idle(rng: random.Random) -> dict:
    params = scenario_live_status(rng)
    params["after"] = rng.choice((0.25, 0.5, 1.0))
    return params


def judge_back_to_idle(params: dict, obs: dict) -> None:
    _done(params, obs, [params["tasks"][0]["n"]])
    if obs["during"].get("status") != "busy":  # "back" to idle: it has to have left it first
        raise CheckFailed(f"Agent 的状态应在处理任务时变成 busy、做完回到 idle；处理任务时实际是 "
                          f"{obs['during'].get('status')}")
    status = obs["after"].get("status")
    if status != "idle":
        raise CheckFailed(f"任务完成 {params['after']:g} 秒后，Agent 的状态应回到 idle，实际还是 {status}")


def _check(key: str, name: str, points: int, body: Callable[[Harness, dict], Any]) -> Check:
    functions = globals()
    return Check(key, name, points, functions[f"scenario_{key}"], _observe(body), functions[f"judge_{key}"])


CRITERIA = (
    Criterion("registration", "注册与能力管理", (
        _check("cards", "connect() 后 AgentInfo 记下能力，状态为 idle", 7, _cards),
        _check("multi_capability", "一个 Agent 可以有多种能力", 7, _submit_all_and_wait),
        _check("completed_counter", "AgentInfo.tasks_completed 计数正确", 6, _submit_all_and_wait),
    ), todo="register_agent 为 Agent 建一张 AgentInfo（能力、状态 idle）和一个收件箱；"
            "assign_task 给任务编号并交给有这种能力的 Agent，Agent 的 run() 取出任务、调用 process_task、"
            "用 send_message 发回 TASK_RESULT，协调器把结果存进 results 并给 tasks_completed 加 1"),
    Criterion("dispatch_balancing", "任务分发和负载均衡", (
        _check("routing", "任务只交给有相应能力的 Agent", 9, _submit_all_and_wait),
        _check("idle_before_busy", "有空闲的 Agent 时先交给空闲的（快慢不同、任务长短不同）", 8, _staggered),
        _check("assign_at_once", "assign_task 立刻返回 id，结果按 id 存进 results", 8, _submit_all_and_wait),
    ), todo="assign_task 立刻返回任务 id，不等结果；协调器只把任务交给有该能力、此刻空闲的 Agent，"
            "都在忙就先排队，等有 Agent 空下来（收到它的结果）再交出去"),
    Criterion("messaging", "消息传递", (
        _check("result_messages", "结果作为 TASK_RESULT 消息发回", 7, _submit_all_and_wait),
        _check("heartbeat_idle", "空闲时定期发送 HEARTBEAT 消息", 6, _idle_for),
        _check("heartbeat_busy", "忙着处理长任务时也照常发送心跳", 7, _submit_all_and_wait),
    ), todo="Agent 的 run() 另开一个 asyncio 任务，每 HEARTBEAT_INTERVAL 秒用 send_message 发一条 HEARTBEAT，"
            "处理任务时也不停；结果一律作为 TASK_RESULT 消息发回"),
    Criterion("fault_tolerance", "容错和故障恢复", (
        _check("failover", "Agent 做到一半崩溃，任务由别的 Agent 完成", 6, _crash_the_busy_one),
        _check("offline", "停止心跳的 Agent 被标为 offline", 4, _crash_one),
        _check("retry", "处理出错的任务被重试并完成", 4, _submit_all_and_wait),
        _check("retry_limit", "最多尝试 3 次，之后算作失败", 3, _submit_and_watch),
        _check("late_answer", "沉默后迟到的结果不会让任务完成两次", 3, _late),
    ), todo="monitor_agents（在 run() 里启动）等到最早会超时的那一刻再检查：超过 HEARTBEAT_TIMEOUT 秒"
            "没心跳的 Agent 标为 offline，它手上的任务重新排队；process_task 抛异常的任务最多尝试 3 次；同一个任务的结果只记一次"),
    Criterion("monitoring", "系统监控和统计", (
        _check("stats", "get_stats() 给出总数和每个 Agent 的完成数", 4, _submit_all_and_wait),
        _check("stats_mid_run", "运行途中、有失败时 get_stats() 也正确", 4, _peek_while_running),
        _check("live_status", "运行中能看到 busy 状态和更新的心跳时间", 4, _status_over_time),
        _check("back_to_idle", "任务做完后状态回到 idle", 3, _status_over_time),
    ), todo="get_stats() 返回 {\"completed\": 完成数, \"agents\": {id: {\"completed\": n, \"status\": 状态}}}，"
            "随时准确；Agent 拿到任务时标为 busy，做完回到 idle，每次心跳更新 last_heartbeat"),
)
