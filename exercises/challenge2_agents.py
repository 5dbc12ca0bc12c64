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
#
# 也可以一步一步来：notebooks/06_challenge2_agents.ipynb 把这个文件分成五步，
# 每步之后只检查一项：python -m course_lib.grading exercises/challenge2_agents.py --only registration

import asyncio
from typing import Dict, List, Set, Any, Optional, Callable
from dataclasses import dataclass, field
from enum import Enum
from abc import ABC, abstractmethod

HEARTBEAT_INTERVAL = 1.0  # Agent 两次心跳之间的秒数
HEARTBEAT_TIMEOUT = 3.0  # 沉默多少秒后，协调器把 Agent 标为 offline


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
    status: str = "idle"  # idle（空闲）、busy（忙）、offline（离线）
    tasks_completed: int = 0
    last_heartbeat: float = field(default_factory=_loop_time)


class BaseAgent(ABC):
    """有若干能力的 Agent；子类实现 `process_task`。"""

    def __init__(self, agent_id: str, capabilities: Set[AgentCapability]):
        self.id = agent_id
        self.capabilities = capabilities
        self.message_queue: asyncio.Queue = asyncio.Queue()
        self.coordinator: Optional["Coordinator"] = None
        self.running = False

    async def connect(self, coordinator: "Coordinator"):
        """向 *coordinator* 报到。

        约定：之后 ``coordinator.agents[self.id]`` 是一张 `AgentInfo`，
        记着这个 Agent 的能力，状态是 "idle"。
        """
        self.coordinator = coordinator
        await coordinator.register_agent(self)

    @abstractmethod
    async def process_task(self, task: Dict[str, Any]) -> Any:
        """完成 *task* 并返回结果；抛出异常表示这次尝试失败了。"""

    async def run(self):
        """Agent 的主循环；评分器把它当作一个任务运行，也可能取消它（模拟崩溃）。

        约定：
        - 从 ``self.message_queue`` 取出 TASK_REQUEST 消息，对每个任务调用 `process_task`，
          用 ``send_message(Message(MessageType.TASK_RESULT, self.id, ..., ...))`` 把结果发回；
        - 不管空闲还是忙碌，每 ``HEARTBEAT_INTERVAL`` 秒用 `send_message` 发一条
          ``Message(MessageType.HEARTBEAT, self.id, ...)``（一个任务可能比 ``HEARTBEAT_TIMEOUT``
          还长：`process_task` 运行时心跳也不能停）；
        - 被取消时立刻全部停下（不再发结果，也不再发心跳）：协调器要能发现，并把它的任务转给别人。
        """
        # TODO
        pass

    async def send_message(self, message: Message):
        """通过协调器发送 *message*（评分器会观察这个方法）。"""
        # TODO
        pass


class Coordinator:
    """登记 Agent、分派任务、盯着心跳、保存结果。"""

    def __init__(self):
        self.agents: Dict[str, AgentInfo] = {}
        self.message_bus: Dict[str, asyncio.Queue] = {}
        self.task_queue: asyncio.Queue = asyncio.Queue()
        self.results: Dict[str, Any] = {}

    async def register_agent(self, agent: BaseAgent):
        """在 ``self.agents`` 里给 *agent* 建一张 `AgentInfo`，并给它一个收件箱。"""
        # TODO
        pass

    async def assign_task(self, task: Dict[str, Any]) -> str:
        """把 *task* 排进队列，立刻返回一个新的、不重复的任务 id（不要等它做完）。

        约定：
        - ``task["type"]`` 是一个 `AgentCapability`；只有有这种能力的 Agent 才能拿到这个任务；
        - 有会做的 Agent 空闲时，任务立刻交给空闲的那个，绝不排到忙碌的 Agent 后面
          （Agent 有快有慢，任务有长有短），这样几个 Agent 能同时干活；
        - 任务完成后，``self.results[task_id]`` 是它的结果，只写一次：一个被当成离线的
          Agent（其实只是沉默了一会儿）迟到的结果，什么也不改变；
        - ``process_task`` 抛出异常的任务要再试（有别的 Agent 就换一个），一共最多尝试 3 次；
          之后算失败，不在 ``self.results`` 里留条目。
        """
        # TODO
        pass

    async def monitor_agents(self):
        """盯着心跳（在 `run` 里运行它）。

        约定：每收到一条 HEARTBEAT，更新 ``AgentInfo.last_heartbeat``；沉默了
        ``HEARTBEAT_TIMEOUT`` 秒的 Agent 变成 "offline"，它没做完的任务放回队列交给别的 Agent。
        正在做任务的 Agent 是 "busy"，手上没有任务了就回到 "idle"。
        """
        # TODO
        pass

    async def run(self):
        """协调器的主循环；评分器把它当作一个任务运行，最后取消它。"""
        # TODO
        pass

    def get_stats(self) -> Dict[str, Any]:
        """约定：返回 ``{"completed": n, "agents": {agent_id: {"completed": n, "status": s}}}``
        （可以有更多的键），任何时候都准确：``completed`` 只数已经在 ``self.results`` 里的任务，
        不数交出去还没做完的，不数失败的尝试，迟到的重复结果也不会数两次。"""
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
        from course_lib.calculator import evaluate  # 安全：只认数字和四则运算，绝不用 eval

        await asyncio.sleep(0.5)
        return {"result": evaluate(task.get("expression"))}
