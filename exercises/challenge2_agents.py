# 挑战 2：分布式 Agent 系统 —— 练习骨架
#
# 把下面的 TODO 补全。自测命令（在项目根目录运行）：
#
#     python -m course_lib.grading exercises/challenge2_agents.py
#
# 评分器这样使用你的代码（每个方法 docstring 里的“约定”就是它检查的内容）：
#
#     coordinator = Coordinator()
#     for agent in agents:                      # 评分器自己的 BaseAgent 子类
#         await agent.connect(coordinator)
#     asyncio.create_task(coordinator.run())    # 启动协调器主循环
#     runs = {a.id: asyncio.create_task(a.run()) for a in agents}   # 启动每个 Agent 的主循环
#     task_id = await coordinator.assign_task({"type": AgentCapability.SEARCH, ...})
#     ... 等 coordinator.results[task_id] 出现 ...
#     runs["search-1"].cancel()                 # 模拟崩溃：Agent 的 run() 在任务中途被取消
#
# 简要中文版要求：
#   1. 注册：connect() 后 coordinator.agents[agent.id] 是一张 AgentInfo（能力、状态 idle、完成数）。
#   2. 分发与负载均衡：任务只交给有该能力的 Agent；有空闲的 Agent 时先交给空闲的，不要排在忙碌的后面；
#      assign_task 立刻返回任务 id，结果存进 coordinator.results[任务id]。
#   3. 消息：Agent 用 send_message(Message(...)) 发回 TASK_RESULT；不管空闲还是正在处理任务，
#      都至少每 1.5 秒发一次 HEARTBEAT。
#   4. 容错：超过 3 秒没有心跳的 Agent 标为 offline，它手上的任务交给别的 Agent；
#      处理时抛异常的任务要重试，最多尝试 3 次，之后算作失败（不进 results）；
#      “掉线”的 Agent 也可能只是沉默了一会儿，它迟到的结果不能让任务再完成一次。
#   5. 监控：get_stats() 随时正确：completed 只算真正完成的任务（失败的尝试、刚交出去的都不算），
#      还有每个 Agent 的 completed；Agent 干活时状态为 busy，做完回到 idle。
#
# 评分用的场景（Agent 的名字、快慢、任务的编号和长短）每份作业都不一样，由评分器随机生成：
# 只有真正满足上面的要求才能通过。
#
# 提示：评分在虚拟时钟上运行，sleep 不花真实时间；别用 eval 计算表达式。

import asyncio
from typing import Dict, List, Set, Any, Optional, Callable
from dataclasses import dataclass, field
from enum import Enum
from abc import ABC, abstractmethod

HEARTBEAT_INTERVAL = 1.0  # seconds between an agent's heartbeats
HEARTBEAT_TIMEOUT = 3.0  # silence after which the coordinator marks an agent offline


class AgentCapability(Enum):
    SEARCH = "search"
    CALCULATE = "calculate"
    SUMMARIZE = "summarize"
    TRANSLATE = "translate"


class MessageType(Enum):
    TASK_REQUEST = "task_request"
    TASK_RESULT = "task_result"
    AGENT_STATUS = "agent_status"
    HEARTBEAT = "heartbeat"


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


@dataclass
class Message:
    type: MessageType
    sender: str
    receiver: str
    content: Any
    timestamp: float = field(default_factory=_loop_time)


@dataclass
class AgentInfo:
    id: str
    capabilities: Set[AgentCapability]
    status: str = "idle"  # idle, busy, offline
    tasks_completed: int = 0
    last_heartbeat: float = field(default_factory=_loop_time)


class BaseAgent(ABC):
    """An agent with some capabilities; subclasses implement `process_task`."""

    def __init__(self, agent_id: str, capabilities: Set[AgentCapability]):
        self.id = agent_id
        self.capabilities = capabilities
        self.message_queue: asyncio.Queue = asyncio.Queue()
        self.coordinator: Optional["Coordinator"] = None
        self.running = False

    async def connect(self, coordinator: "Coordinator"):
        """Register with *coordinator*.

        Contract: afterwards ``coordinator.agents[self.id]`` is an `AgentInfo`
        with this agent's capabilities and status "idle".
        """
        self.coordinator = coordinator
        await coordinator.register_agent(self)

    @abstractmethod
    async def process_task(self, task: Dict[str, Any]) -> Any:
        """Do *task* and return its result; raising means this attempt failed."""

    async def run(self):
        """The agent's main loop; the grader runs it as a task and may cancel it (a crash).

        Contract:
        - take TASK_REQUEST messages from ``self.message_queue`` and run
          `process_task` for each, sending the outcome back with
          ``send_message(Message(MessageType.TASK_RESULT, self.id, ..., ...))``;
        - send ``Message(MessageType.HEARTBEAT, self.id, ...)`` with
          `send_message` every ``HEARTBEAT_INTERVAL`` seconds, busy or idle
          (a task may take longer than ``HEARTBEAT_TIMEOUT``: heartbeats must
          go on while `process_task` runs);
        - when cancelled, stop everything at once (no more results, no more
          heartbeats): the coordinator must notice and move its task.
        """
        # TODO
        pass

    async def send_message(self, message: Message):
        """Send *message* through the coordinator (the grader watches this method)."""
        # TODO
        pass


class Coordinator:
    """Registers agents, hands out tasks, watches heartbeats, keeps results."""

    def __init__(self):
        self.agents: Dict[str, AgentInfo] = {}
        self.message_bus: Dict[str, asyncio.Queue] = {}
        self.task_queue: asyncio.Queue = asyncio.Queue()
        self.results: Dict[str, Any] = {}

    async def register_agent(self, agent: BaseAgent):
        """Record *agent* in ``self.agents`` (an `AgentInfo`) and give it an inbox."""
        # TODO
        pass

    async def assign_task(self, task: Dict[str, Any]) -> str:
        """Queue *task* and return its new, unique id at once (do not wait for it).

        Contract:
        - ``task["type"]`` is an `AgentCapability`; only agents with it get the task;
        - when a capable agent is idle, the task goes to an idle one at once,
          never into the queue of a busy agent (agents differ in speed and
          tasks in length), so several agents work in parallel;
        - when the task is done, ``self.results[task_id]`` is its result, set
          once: a late answer from an agent that was thought offline (it was
          only silent) changes nothing;
        - a task whose ``process_task`` raised is tried again (another agent if
          there is one), up to 3 attempts in all; then it has failed and gets
          no entry in ``self.results``.
        """
        # TODO
        pass

    async def monitor_agents(self):
        """Watch heartbeats (run it from `run`).

        Contract: update ``AgentInfo.last_heartbeat`` on each HEARTBEAT; an
        agent silent for ``HEARTBEAT_TIMEOUT`` seconds becomes "offline" and
        its unfinished task goes back to the queue for another agent.  An
        agent working on a task is "busy"; when it has none left it is "idle"
        again.
        """
        # TODO
        pass

    async def run(self):
        """The coordinator's main loop; the grader runs it as a task and cancels it at the end."""
        # TODO
        pass

    def get_stats(self) -> Dict[str, Any]:
        """Contract: ``{"completed": n, "agents": {agent_id: {"completed": n, "status": s}}}``
        (more keys are welcome), correct at any time: ``completed`` counts the
        tasks in ``self.results`` so far, not tasks handed out, not failed
        attempts, and a late duplicate answer never twice."""
        # TODO
        pass


class SearchAgent(BaseAgent):
    def __init__(self, agent_id: str):
        super().__init__(agent_id, {AgentCapability.SEARCH})

    async def process_task(self, task: Dict[str, Any]) -> Any:
        query = task.get("query")
        await asyncio.sleep(1)
        return {"results": f"搜索结果: {query}"}


class CalculatorAgent(BaseAgent):
    def __init__(self, agent_id: str):
        super().__init__(agent_id, {AgentCapability.CALCULATE})

    async def process_task(self, task: Dict[str, Any]) -> Any:
        from course_lib.calculator import evaluate  # safe: numbers and arithmetic only, never eval

        await asyncio.sleep(0.5)
        return {"result": evaluate(task.get("expression"))}
