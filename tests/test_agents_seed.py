"""The chapter's test_distributed_system(), with its one TODO completed, against course_lib.agents."""

import asyncio

from course_lib import run_virtual
from course_lib.agents import AgentCapability, CalculatorAgent, Coordinator, SearchAgent


# The chapter's test code; only the TODO ("运行系统并获取结果") is filled in.
async def test_distributed_system():
    # 创建协调器
    coordinator = Coordinator()
    
    # 创建 Agent
    agents = [
        SearchAgent("search-1"),
        SearchAgent("search-2"),
        CalculatorAgent("calc-1"),
    ]
    
    # 连接 Agent
    for agent in agents:
        await agent.connect(coordinator)
    
    # 提交任务
    tasks = [
        {"type": AgentCapability.SEARCH, "query": "Python async"},
        {"type": AgentCapability.CALCULATE, "expression": "10 + 20"},
        {"type": AgentCapability.SEARCH, "query": "LangChain"},
    ]
    
    # 运行系统并获取结果
    async with coordinator:
        ids = [await coordinator.assign_task(task) for task in tasks]
        results = await coordinator.gather(ids)
    for task_id, result in zip(ids, results):
        print(f"{task_id}: {result}")
    print(coordinator.get_stats())


test_distributed_system.__test__ = False  # a coroutine: run below on the virtual clock


def test_the_chapters_test_passes(capsys):
    run_virtual(test_distributed_system())
    out = capsys.readouterr().out
    assert "task-2: {'result': 30}" in out
    assert "task-1: {'query': 'Python async', 'results': [" in out
    assert "task-3: {'query': 'LangChain', 'results': [" in out
    assert "'completed': 3" in out and "'failed': 0" in out


def test_the_chapters_test_takes_one_search_delay_and_leaves_nothing_pending():
    async def main():
        await test_distributed_system()
        loop = asyncio.get_running_loop()
        others = asyncio.all_tasks() - {asyncio.current_task()}
        return loop.time(), others

    elapsed, others = run_virtual(main())
    assert elapsed == 1.0  # two searches on two agents in parallel, the sum alongside
    assert others == set()
