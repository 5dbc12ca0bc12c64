"""Ready-made agents: deterministic offline stand-ins for real tools.

No network and no model: each one waits ``delay`` seconds of pretend work
(exact on the virtual clock) and computes its answer from its input alone,
so examples and tests give the same output every time.  `SummarizeAgent`
and `TranslateAgent` show collaboration: given a ``query`` instead of a
``text``, they first ask a search agent through the coordinator.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar, Optional

from .agent import BaseAgent
from ..calculator import evaluate
from .types import AgentCapability, PermanentTaskError

__all__ = ["SearchAgent", "CalculatorAgent", "SummarizeAgent", "TranslateAgent"]

CORPUS = (
    "asyncio runs many coroutines on one thread and switches between them at each await.",
    "async and await let a Python program wait for I/O without blocking other work.",
    "asyncio.gather runs awaitables concurrently and returns their results in order.",
    "A semaphore limits how many tasks may use a resource at the same time.",
    "LangChain chains model calls, tools and memory into agent pipelines.",
    "A coordinator assigns each task to an agent that has the capability and spare capacity.",
    "Heartbeats let a coordinator notice that an agent has stopped, and give its tasks to others.",
)

GLOSSARY: dict[str, dict[str, str]] = {
    "zh": {
        "async": "异步", "await": "等待", "wait": "等待", "task": "任务", "tasks": "任务",
        "agent": "智能体", "agents": "智能体", "coordinator": "协调器", "program": "程序",
        "thread": "线程", "coroutines": "协程", "runs": "运行", "many": "许多", "one": "一个",
        "results": "结果", "order": "顺序", "and": "和", "hello": "你好", "world": "世界",
    },
    "fr": {
        "async": "asynchrone", "await": "attendre", "wait": "attendre", "task": "tâche",
        "tasks": "tâches", "agent": "agent", "agents": "agents", "coordinator": "coordinateur",
        "program": "programme", "thread": "fil", "runs": "exécute", "many": "beaucoup",
        "one": "un", "results": "résultats", "order": "ordre", "and": "et", "hello": "bonjour",
        "world": "monde", "the": "le", "a": "un",
    },
}

_WORDS = re.compile(r"\w+")


class _StandIn(BaseAgent):
    """An agent with one capability that pretends to work for ``delay`` seconds."""

    capability: ClassVar[AgentCapability]
    default_delay: ClassVar[float]

    def __init__(self, agent_id: str, *, capacity: int = 1, delay: Optional[float] = None) -> None:
        super().__init__(agent_id, {self.capability}, capacity=capacity)
        self.delay = self.default_delay if delay is None else delay


class SearchAgent(_StandIn):
    """Searches a small built-in corpus for sentences sharing a word with the query.

    Example use::

        await SearchAgent("search-1").connect(coordinator)
        await coordinator.assign_task({"type": AgentCapability.SEARCH, "query": "asyncio"})
        # result: {"query": "asyncio", "results": ["asyncio runs many coroutines ...", ...]}
    """

    capability = AgentCapability.SEARCH
    default_delay = 1.0
    limit = 3

    async def process_task(self, task: dict[str, Any]) -> Any:
        query = task.get("query")
        await asyncio.sleep(self.delay)
        words = set(_WORDS.findall(str(query).lower()))
        found = [s for s in CORPUS if words & set(_WORDS.findall(s.lower()))][: self.limit]
        return {"query": query, "results": found or [f"No offline document mentions {query!r}."]}


class CalculatorAgent(_StandIn):
    """Computes ``task["expression"]`` with the safe evaluator (never ``eval``).

    Example use::

        await CalculatorAgent("calc-1").connect(coordinator)
        await coordinator.assign_task({"type": AgentCapability.CALCULATE, "expression": "10 + 20"})
        # result: {"result": 30}; a refused expression fails with CalculatorError
    """

    capability = AgentCapability.CALCULATE
    default_delay = 0.5

    async def process_task(self, task: dict[str, Any]) -> Any:
        expression = task.get("expression")
        await asyncio.sleep(self.delay)
        return {"result": evaluate(expression)}


async def _text_or_search(agent: BaseAgent, task: dict[str, Any], timeout: float) -> tuple[str, int]:
    """The task's ``text``, or the results of searching its ``query``; and how many sources."""
    if "text" in task:
        return str(task["text"]), 1
    if "query" not in task:
        raise PermanentTaskError(f"a {type(agent).__name__} task needs a 'text' or a 'query'")
    found = await agent.request(AgentCapability.SEARCH, {"query": task["query"]}, timeout=timeout)
    return " ".join(found["results"]), len(found["results"])


class SummarizeAgent(_StandIn):
    """Summarizes ``text``, or asks a search agent about ``query`` and summarizes that.

    The summary is the first ``max_words`` words (an extractive stand-in).

    Example use::

        await SearchAgent("search-1").connect(coordinator)
        await SummarizeAgent("sum-1").connect(coordinator)
        await coordinator.assign_task({"type": AgentCapability.SUMMARIZE, "query": "asyncio"})
        # result: {"summary": "asyncio runs many coroutines ...", "sources": 2}
    """

    capability = AgentCapability.SUMMARIZE
    default_delay = 0.5
    max_words = 12
    search_timeout = 30.0

    async def process_task(self, task: dict[str, Any]) -> Any:
        text, sources = await _text_or_search(self, task, self.search_timeout)
        await asyncio.sleep(self.delay)
        words = text.split()
        summary = " ".join(words[: self.max_words]) + (" ..." if len(words) > self.max_words else "")
        return {"summary": summary, "sources": sources}


class TranslateAgent(_StandIn):
    """Translates ``text`` word by word with a tiny glossary (``target`` "zh" or "fr").

    Given a ``query`` instead, it asks a search agent and translates the results.
    Words not in the glossary stay as they are.

    Example use::

        await TranslateAgent("tr-1").connect(coordinator)
        await coordinator.assign_task({"type": AgentCapability.TRANSLATE,
                                       "text": "hello world", "target": "fr"})
        # result: {"translation": "bonjour monde", "target": "fr"}
    """

    capability = AgentCapability.TRANSLATE
    default_delay = 0.5
    search_timeout = 30.0

    async def process_task(self, task: dict[str, Any]) -> Any:
        target = task.get("target", "zh")
        glossary = GLOSSARY.get(target)
        if glossary is None:
            raise PermanentTaskError(
                f"cannot translate to {target!r}; the targets are {', '.join(GLOSSARY)}")
        text, _ = await _text_or_search(self, task, self.search_timeout)
        await asyncio.sleep(self.delay)
        translation = _WORDS.sub(lambda m: glossary.get(m[0].lower(), m[0]), text)
        return {"translation": translation, "target": target}
