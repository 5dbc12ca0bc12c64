"""Challenge 2: the distributed agent system, on a message bus (in one process or many).

Example use::

    from course_lib.agents import AgentCapability, CalculatorAgent, Coordinator, SearchAgent

    async with Coordinator() as coordinator:
        await SearchAgent("search-1").connect(coordinator)
        await CalculatorAgent("calc-1").connect(coordinator)
        ids = [await coordinator.assign_task({"type": AgentCapability.CALCULATE,
                                              "expression": "10 + 20"})]
        print(await coordinator.gather(ids), coordinator.get_stats())

See `course_lib.agents.coordinator` for the rules and
`course_lib.agents.protocol` for the messages.  `RedisBus` (Redis Streams,
for agents in other processes) loads on first use and needs ``pip install redis``.
"""

from typing import Any

from .agent import AgentRejectedError, BaseAgent, current_agent
from .balancing import (
    BalancingPolicy,
    LeastLoaded,
    PowerOfTwoChoices,
    RandomChoice,
    RoundRobin,
    make_policy,
)
from .builtin import CalculatorAgent, SearchAgent, SummarizeAgent, TranslateAgent
from .bus import BusEvent, InMemoryBus, MessageBus
from .cluster import LocalCluster
from .codec import JsonCodec, MalformedMessageError, NotSerializableError, RemoteTaskError
from .redis_local import RedisNotAvailable, find_redis_server, local_redis
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
    PermanentTaskError,
    TaskDeadlineError,
    TaskLostError,
    TaskRecord,
    TaskTimeoutError,
    TaskState,
)
from .protocol import (
    Broadcast,
    Goodbye,
    Heartbeat,
    Message,
    MessageType,
    Registration,
    StatusUpdate,
    TaskRequest,
    TaskResult,
)

__all__ = [
    "AgentRejectedError",
    "Broadcast",
    "BusEvent",
    "Goodbye",
    "Heartbeat",
    "JsonCodec",
    "LocalCluster",
    "MalformedMessageError",
    "NotSerializableError",
    "RedisBus",
    "Registration",
    "RemoteTaskError",
    "current_agent",
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
    "TaskLostError",
    "TaskTimeoutError",
    "TaskQueue",
    "TaskRecord",
    "TaskRequest",
    "TaskResult",
    "TaskState",
    "TranslateAgent",
    "evaluate",
    "find_redis_server",
    "local_redis",
    "make_policy",
]


def __getattr__(name: str) -> Any:
    # RedisBus needs redis-py, which the in-process course does not.
    if name == "RedisBus":
        from .redis_bus import RedisBus

        return RedisBus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
