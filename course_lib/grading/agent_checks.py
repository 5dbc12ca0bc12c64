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

Agents are the grader's own subclasses of the submission's ``BaseAgent``,
so they record what they were given.  Everything runs on the virtual clock.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..vclock import VirtualClockStall, run_virtual
from .rubric import Check, CheckFailed, Criterion

__all__ = ["CRITERIA"]

RESULT_LIMIT = 30.0  # virtual seconds to wait for results


def _agent_class(sub: Any) -> type:
    class GradedAgent(sub.BaseAgent):
        def __init__(self, agent_id: str, capabilities: set, seconds: float = 1.0, fail_first: int = 0):
            super().__init__(agent_id, set(capabilities))
            self.seconds = seconds
            self.fail_first = fail_first
            self.handled: list[Any] = []
            self.sent: list[Any] = []
            original = self.send_message

            async def recording_send(message: Any) -> Any:
                self.sent.append((asyncio.get_running_loop().time(), message))
                return await original(message)

            self.send_message = recording_send

        async def process_task(self, task: dict) -> Any:
            await asyncio.sleep(self.seconds)
            if self.fail_first > 0:
                self.fail_first -= 1
                raise RuntimeError(f"{self.id} 故意失败一次")
            self.handled.append(task.get("n"))
            return {"agent": self.id, "n": task.get("n")}

    return GradedAgent


def scenario(sub: Any, specs: list[tuple], body: Any) -> Any:
    """Start a coordinator and agents per *specs* (id, capability names, seconds[, fail_first]),
    run ``await body(coordinator, agents, runs)``, stop everything, return its value."""
    Agent = _agent_class(sub)

    async def main() -> Any:
        coordinator = sub.Coordinator()
        agents = {}
        for agent_id, caps, *rest in specs:
            agents[agent_id] = Agent(agent_id, {sub.AgentCapability(c) for c in caps}, *rest)
            await agents[agent_id].connect(coordinator)
        runner = asyncio.ensure_future(coordinator.run())
        runs = {agent_id: asyncio.ensure_future(agent.run()) for agent_id, agent in agents.items()}
        await asyncio.sleep(0.01)
        try:
            return await body(coordinator, agents, runs)
        finally:
            for task in (*runs.values(), runner):
                task.cancel()
            await asyncio.wait_for(asyncio.gather(*runs.values(), runner, return_exceptions=True), 10)

    try:
        return run_virtual(main(), stall_timeout=2.0)
    except VirtualClockStall:
        raise CheckFailed("程序死锁：所有协程都在等待，却没有任何计时器或消息能唤醒它们") from None
    except TimeoutError:
        raise CheckFailed("取消 coordinator.run() 和 agent.run() 后，它们 10 秒内没有停下来") from None


async def submit(sub: Any, coordinator: Any, kind: str, n: int) -> str:
    task_id = await coordinator.assign_task({"type": sub.AgentCapability(kind), "n": n})
    if not isinstance(task_id, str):
        raise CheckFailed(f"assign_task() 应立刻返回任务 id（字符串），实际返回了 {task_id!r}")
    return task_id


async def wait_results(coordinator: Any, ids: list[str], limit: float = RESULT_LIMIT) -> float:
    """Wait (virtual time) until every id is in ``coordinator.results``; return the time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not all(task_id in coordinator.results for task_id in ids):
        if loop.time() >= deadline:
            missing = [t for t in ids if t not in coordinator.results]
            raise CheckFailed(f"{limit:g} 秒后 coordinator.results 里仍然没有任务 {missing} 的结果")
        await asyncio.sleep(0.05)  # the grader's own wait; the virtual clock makes it free
    return loop.time()


def _info(coordinator: Any, agent_id: str) -> Any:
    info = getattr(coordinator, "agents", {}).get(agent_id)
    if info is None:
        raise CheckFailed(f"connect() 之后 coordinator.agents 里没有 {agent_id!r}")
    return info


def _status(info: Any) -> str:
    return str(getattr(info.status, "value", info.status))


# --------------------------------------------------------------- registration

def check_registration_cards(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        for agent_id, caps in (("search-1", {"search"}), ("both-1", {"search", "calculate"})):
            info = _info(coordinator, agent_id)
            got = {getattr(c, "value", c) for c in info.capabilities}
            if got != caps:
                raise CheckFailed(f"{agent_id} 注册的能力应为 {sorted(caps)}，AgentInfo 里是 {sorted(got)}")
            if _status(info) != "idle":
                raise CheckFailed(f"刚注册、没有任务的 {agent_id} 状态应为 idle，实际是 {_status(info)}")

    scenario(sub, [("search-1", ["search"], 1.0), ("both-1", ["search", "calculate"], 1.0)], body)


def check_multi_capability(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        ids = [await submit(sub, coordinator, "calculate", 1), await submit(sub, coordinator, "search", 2)]
        await wait_results(coordinator, ids)
        return agents["both-1"].handled

    handled = scenario(sub, [("both-1", ["search", "calculate"], 1.0)], body)
    if sorted(handled) != [1, 2]:
        raise CheckFailed(f"同时会 search 和 calculate 的 Agent 应两类任务都接，实际只处理了 {handled}")


def check_tasks_completed_counter(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        ids = [await submit(sub, coordinator, "search", n) for n in range(3)]
        await wait_results(coordinator, ids)
        return getattr(_info(coordinator, "search-1"), "tasks_completed", None)

    done = scenario(sub, [("search-1", ["search"], 0.5)], body)
    if done != 3:
        raise CheckFailed(f"search-1 完成 3 个任务后，AgentInfo.tasks_completed 应为 3，实际是 {done!r}")


# ------------------------------------------------------- dispatch + balancing

def check_capability_routing(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        ids = [await submit(sub, coordinator, kind, n)
               for n, kind in enumerate(["search", "calculate", "search", "calculate", "search"])]
        await wait_results(coordinator, ids)
        return {agent_id: sorted(a.handled) for agent_id, a in agents.items()}

    handled = scenario(sub, [("search-1", ["search"], 0.5), ("calc-1", ["calculate"], 0.5)], body)
    if handled != {"search-1": [0, 2, 4], "calc-1": [1, 3]}:
        raise CheckFailed(f"search 任务应只交给 search-1，calculate 任务只交给 calc-1；实际分配 {handled}")


def check_load_balancing(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        start = asyncio.get_running_loop().time()
        ids = [await submit(sub, coordinator, "search", n) for n in range(6)]
        end = await wait_results(coordinator, ids)
        return {agent_id: len(a.handled) for agent_id, a in agents.items()}, end - start

    counts, elapsed = scenario(sub, [("search-1", ["search"], 1.0), ("search-2", ["search"], 1.0)], body)
    if min(counts.values()) < 2 or elapsed > 3.6:
        raise CheckFailed(f"2 个同样快的 Agent、6 个各需 1 秒的任务，应大致平分、约 3 秒完成；"
                          f"实际分配 {counts}，用时 {elapsed:.1f} 秒")


def check_assign_returns_at_once(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        loop = asyncio.get_running_loop()
        before = loop.time()
        ids = [await submit(sub, coordinator, "search", n) for n in range(3)]
        returned = loop.time() - before
        await wait_results(coordinator, ids)
        return ids, returned, {t: coordinator.results[t] for t in ids}

    ids, returned, results = scenario(sub, [("search-1", ["search"], 1.0)], body)
    if returned > 0.0:
        raise CheckFailed(f"assign_task() 应立刻返回任务 id，不等任务做完；3 次调用用了 {returned:g} 秒")
    if len(set(ids)) != 3:
        raise CheckFailed(f"每个任务应有不同的 id，实际是 {ids}")
    wrong = {t: results[t] for n, t in enumerate(ids)
             if not isinstance(results[t], dict) or results[t].get("n") != n}
    if wrong:
        raise CheckFailed(f"coordinator.results 里的结果和任务对不上：{wrong}")


# ------------------------------------------------------------------ messaging

def check_results_are_messages(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        ids = [await submit(sub, coordinator, "search", 7)]
        await wait_results(coordinator, ids)
        return agents["search-1"].sent

    sent = scenario(sub, [("search-1", ["search"], 0.5)], body)
    results = [m for _, m in sent if getattr(m, "type", None) == sub.MessageType.TASK_RESULT]
    if not results:
        kinds = sorted({str(getattr(m, "type", m)) for _, m in sent})
        raise CheckFailed(f"Agent 应通过 send_message(Message(type=TASK_RESULT, …)) 把结果发回，"
                          f"实际只发送了 {kinds or '（没有消息）'}")
    if any(getattr(m, "sender", None) != "search-1" for m in results):
        raise CheckFailed("TASK_RESULT 消息的 sender 应是发送它的 Agent 的 id")


def check_heartbeat_messages(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        await asyncio.sleep(6.0)
        return agents["search-1"].sent

    sent = scenario(sub, [("search-1", ["search"], 0.5)], body)
    beats = [t for t, m in sent if getattr(m, "type", None) == sub.MessageType.HEARTBEAT]
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    if len(beats) < 4 or max(gaps, default=99) > 1.5:
        raise CheckFailed(f"空闲的 Agent 也应通过 send_message 定期（至少每 1.5 秒）发送 HEARTBEAT 消息；"
                          f"6 秒内只发了 {len(beats)} 次")


# ------------------------------------------------------------ fault tolerance

def check_crash_failover(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        ids = [await submit(sub, coordinator, "search", 1)]
        await asyncio.sleep(0.5)
        victim = next((a for a in agents.values() if a.id in ("search-1", "search-2")
                       and _status(_info(coordinator, a.id)) == "busy"), agents["search-1"])
        runs[victim.id].cancel()  # the crash: its run() dies mid-task
        await wait_results(coordinator, ids, limit=15.0)
        survivor = "search-2" if victim.id == "search-1" else "search-1"
        return victim.id, agents[survivor].handled, agents[victim.id].handled

    victim, survivor_did, victim_did = scenario(
        sub, [("search-1", ["search"], 2.0), ("search-2", ["search"], 2.0)], body)
    if survivor_did != [1] or victim_did:
        raise CheckFailed(f"{victim} 做到一半崩溃后，任务应交给另一个 Agent 完成；"
                          f"实际另一个 Agent 处理了 {survivor_did}")


def check_crashed_agent_goes_offline(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        runs["search-1"].cancel()
        await asyncio.sleep(6.0)
        return _status(_info(coordinator, "search-1")), _status(_info(coordinator, "search-2"))

    crashed, alive = scenario(sub, [("search-1", ["search"], 1.0), ("search-2", ["search"], 1.0)], body)
    if crashed != "offline" or alive == "offline":
        raise CheckFailed(f"search-1 停止发心跳 6 秒后应被标为 offline（另一个仍在线）；"
                          f"实际 search-1 是 {crashed}，search-2 是 {alive}")


def check_failed_task_retried(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        ids = [await submit(sub, coordinator, "search", 5)]
        await wait_results(coordinator, ids)
        return coordinator.results[ids[0]]

    result = scenario(sub, [("search-1", ["search"], 0.5, 1), ("search-2", ["search"], 0.5, 1)], body)
    if not isinstance(result, dict) or result.get("n") != 5:
        raise CheckFailed(f"处理时抛出异常的任务应交给 Agent 重试并最终完成，实际结果是 {result!r}")


# ----------------------------------------------------------------- monitoring

def check_stats(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        ids = [await submit(sub, coordinator, kind, n)
               for n, kind in enumerate(["search", "search", "calculate", "search"])]
        await wait_results(coordinator, ids)
        return coordinator.get_stats(), {a.id: len(a.handled) for a in agents.values()}

    stats, handled = scenario(sub, [("search-1", ["search"], 0.5), ("calc-1", ["calculate"], 0.5)], body)
    if not isinstance(stats, dict) or stats.get("completed") != 4:
        raise CheckFailed(f"4 个任务完成后，get_stats()['completed'] 应为 4，实际 {stats.get('completed') if isinstance(stats, dict) else stats!r}")
    per_agent = {a: (stats.get("agents") or {}).get(a, {}).get("completed") for a in handled}
    if per_agent != handled:
        raise CheckFailed(f"get_stats()['agents'] 里每个 Agent 的 completed 应为 {handled}，实际 {per_agent}")


def check_live_status(sub: Any) -> None:
    async def body(coordinator, agents, runs):
        await submit(sub, coordinator, "search", 1)
        await asyncio.sleep(1.0)
        busy = _status(_info(coordinator, "search-1"))
        first = _info(coordinator, "search-1").last_heartbeat
        await asyncio.sleep(3.0)
        return busy, first, _info(coordinator, "search-1").last_heartbeat

    busy, first, later = scenario(sub, [("search-1", ["search"], 2.0)], body)
    if busy != "busy":
        raise CheckFailed(f"正在处理任务的 Agent 状态应为 busy，实际是 {busy}")
    if not later > first:
        raise CheckFailed(f"AgentInfo.last_heartbeat 应随心跳更新，3 秒内从 {first} 变成了 {later}")


CRITERIA = (
    Criterion("registration", "注册与能力管理", (
        Check("cards", "connect() 后 AgentInfo 记下能力，状态为 idle", 7, check_registration_cards),
        Check("multi_capability", "一个 Agent 可以有多种能力", 7, check_multi_capability),
        Check("completed_counter", "AgentInfo.tasks_completed 计数正确", 6, check_tasks_completed_counter),
    )),
    Criterion("dispatch_balancing", "任务分发和负载均衡", (
        Check("routing", "任务只交给有相应能力的 Agent", 9, check_capability_routing),
        Check("balancing", "多个 Agent 分担任务、并行处理", 8, check_load_balancing),
        Check("assign_at_once", "assign_task 立刻返回 id，结果按 id 存进 results", 8, check_assign_returns_at_once),
    )),
    Criterion("messaging", "消息传递", (
        Check("result_messages", "结果作为 TASK_RESULT 消息发回", 10, check_results_are_messages),
        Check("heartbeat_messages", "定期发送 HEARTBEAT 消息", 10, check_heartbeat_messages),
    )),
    Criterion("fault_tolerance", "容错和故障恢复", (
        Check("failover", "Agent 做到一半崩溃，任务由别的 Agent 完成", 10, check_crash_failover),
        Check("offline", "停止心跳的 Agent 被标为 offline", 5, check_crashed_agent_goes_offline),
        Check("retry", "处理出错的任务被重试并完成", 5, check_failed_task_retried),
    )),
    Criterion("monitoring", "系统监控和统计", (
        Check("stats", "get_stats() 给出总数和每个 Agent 的完成数", 8, check_stats),
        Check("live_status", "运行中能看到 busy 状态和更新的心跳时间", 7, check_live_status),
    )),
)
