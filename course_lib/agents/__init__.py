"""Challenge 2: the distributed agent system, in one process, on a message bus.

Example use::

    from course_lib.agents import AgentCapability, CalculatorAgent, Coordinator, SearchAgent

    async with Coordinator() as coordinator:
        await SearchAgent("search-1").connect(coordinator)
        await CalculatorAgent("calc-1").connect(coordinator)
        ids = [await coordinator.assign_task({"type": AgentCapability.CALCULATE,
                                              "expression": "10 + 20"})]
        print(await coordinator.gather(ids), coordinator.get_stats())

See `course_lib.agents.coordinator` for the rules.
"""

from .agent import BaseAgent
from .balancing import (
    BalancingPolicy,
    LeastLoaded,
    PowerOfTwoChoices,
    RandomChoice,
    RoundRobin,
    make_policy,
)
from .builtin import CalculatorAgent, SearchAgent, SummarizeAgent, TranslateAgent
from .bus import InMemoryBus, MessageBus
from .redis_local import RedisNotAvailable, local_redis
from ..calculator import CalculatorError, evaluate
from .coordinator import Coordinator
from .taskqueue import TaskQueue
from .types import (
    AgentCapability,
    AgentEvent,
    AgentInfo,
    AgentStatus,
    CoordinatorStoppedError,
    EventKind,
    InjectedFault,
    TaskCancelledError,
    InvalidTaskError,
    Message,
    MessageType,
    PermanentTaskError,
    StatusUpdate,
    TaskDeadlineError,
    TaskRecord,
    TaskRequest,
    TaskResult,
    TaskState,
)

__all__ = [
    "AgentCapability",
    "AgentEvent",
    "AgentInfo",
    "AgentStatus",
    "BalancingPolicy",
    "BaseAgent",
    "CalculatorAgent",
    "CalculatorError",
    "Coordinator",
    "CoordinatorStoppedError",
    "EventKind",
    "InMemoryBus",
    "InjectedFault",
    "InvalidTaskError",
    "LeastLoaded",
    "Message",
    "MessageBus",
    "MessageType",
    "PermanentTaskError",
    "PowerOfTwoChoices",
    "RandomChoice",
    "RedisNotAvailable",
    "RoundRobin",
    "SearchAgent",
    "StatusUpdate",
    "SummarizeAgent",
    "TaskCancelledError",
    "TaskDeadlineError",
    "TaskQueue",
    "TaskRecord",
    "TaskRequest",
    "TaskResult",
    "TaskState",
    "TranslateAgent",
    "evaluate",
    "local_redis",
    "make_policy",
]
