"""Small, deterministic scenarios reused by notebooks, docs images and tests.

Run them with `course_lib.run_virtual` so their timings are exact.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .scheduler import SmartScheduler, Task

__all__ = ["agents_demo", "scheduler_demo"]


async def _step(seconds: float, *_upstream: object) -> float:
    await asyncio.sleep(seconds)
    return seconds


async def _unreliable(*_upstream: object) -> None:
    await asyncio.sleep(0.3)
    raise ConnectionError("the service did not answer")


async def scheduler_demo(max_workers: int = 2) -> SmartScheduler:
    """A little pipeline with a retry, a timeout and a cancelled dependent.

    download -> parse -> report, plus a flaky "enrich" step (fails, retries,
    fails) that "report" also needs, so "report" ends CANCELLED; "thumbnail"
    overruns its timeout.
    """
    scheduler = SmartScheduler(max_workers=max_workers)
    tasks = [
        Task(id="download", func=_step, args=(1.0,), priority=0),
        Task(id="enrich", func=_unreliable, priority=1, max_retries=1, retry_delay=0.5),
        Task(id="thumbnail", func=_step, args=(3.0,), priority=2, timeout=1.0, max_retries=0),
        Task(id="parse", func=_step, args=(0.5,), priority=1, dependencies=["download"]),
        Task(id="report", func=_step, args=(0.2,), priority=1, dependencies=["parse", "enrich"]),
    ]
    for task in tasks:
        await scheduler.add_task(task)
    await scheduler.run()
    return scheduler


async def agents_demo() -> Any:
    """Three agents; search-1 crashes mid-task and its task restarts on search-2.

    search-2 also fails one task on purpose, which is retried.  Returns the
    coordinator after it stopped (its ``event_log`` holds the whole story).
    """
    from .agents import AgentCapability, CalculatorAgent, Coordinator, SearchAgent

    async with Coordinator(heartbeat_interval=1.0, heartbeat_timeout=3.0) as coordinator:
        search_1, search_2 = SearchAgent("search-1"), SearchAgent("search-2")
        for agent in (search_1, search_2, CalculatorAgent("calc-1")):
            await agent.connect(coordinator)
        search_2.fail_next(1)
        tasks = [{"type": AgentCapability.SEARCH, "query": q} for q in ("asyncio", "LangChain", "agents")]
        tasks.append({"type": AgentCapability.CALCULATE, "expression": "(10 + 20) * 3"})
        ids = [await coordinator.assign_task(task) for task in tasks]
        await asyncio.sleep(0.5)
        search_1.crash()
        await coordinator.gather(ids)
    return coordinator
