# 挑战 2 的一份参考解答：从 exercises/challenge2_agents.py 的骨架写成，只用标准库。
#
# 先自己做，卡住了再来看。对应 06 笔记本的五步：注册 · 分发和负载均衡 · 消息 · 容错 · 监控。
#
# 评分：python -m course_lib.grading course_lib/solutions/challenge2_agents.py
import asyncio
import itertools
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, Optional, Set

HEARTBEAT_INTERVAL = 1.0
HEARTBEAT_TIMEOUT = 3.0
MAX_ATTEMPTS = 3


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
    status: str = "idle"
    tasks_completed: int = 0
    last_heartbeat: float = field(default_factory=_loop_time)


class BaseAgent(ABC):
    def __init__(self, agent_id: str, capabilities: Set[AgentCapability]):
        self.id = agent_id
        self.capabilities = capabilities
        self.message_queue: asyncio.Queue = asyncio.Queue()
        self.coordinator: Optional["Coordinator"] = None
        self.running = False

    async def connect(self, coordinator: "Coordinator"):
        self.coordinator = coordinator
        await coordinator.register_agent(self)

    @abstractmethod
    async def process_task(self, task: Dict[str, Any]) -> Any:
        ...

    async def run(self):
        self.running = True
        beating = asyncio.ensure_future(self.heartbeats())
        try:
            while True:
                message = await self.message_queue.get()
                if message.type is MessageType.TASK_REQUEST:
                    await self.handle(message.content)
        finally:
            self.running = False
            beating.cancel()

    async def handle(self, request: Dict[str, Any]):
        try:
            result, error = await self.process_task(request["task"]), None
        except Exception as exc:  # the attempt failed
            result, error = None, repr(exc)
        await self.send_message(Message(MessageType.TASK_RESULT, self.id, "coordinator",
                                        {**request, "result": result, "error": error}))

    async def heartbeats(self):
        while True:
            await self.send_message(Message(MessageType.HEARTBEAT, self.id, "coordinator", None))
            await asyncio.sleep(HEARTBEAT_INTERVAL)

    async def send_message(self, message: Message):
        await self.coordinator.inbox.put(message)


class Coordinator:
    def __init__(self):
        self.agents: Dict[str, AgentInfo] = {}
        self.message_bus: Dict[str, asyncio.Queue] = {}
        self.task_queue: deque = deque()  # ids of tasks waiting for an agent
        self.results: Dict[str, Any] = {}
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.tasks: Dict[str, Dict[str, Any]] = {}
        self.working: Dict[str, Set[str]] = {}  # agent id -> the tasks it was sent and has not answered
        self.completed = 0
        self.failed = 0
        self.done_by: Dict[str, int] = {}  # agent id -> tasks it completed
        self.changed = asyncio.Event()  # wakes the monitor when heartbeats or agents change
        self._ids = itertools.count(1)

    async def register_agent(self, agent: BaseAgent):
        self.agents[agent.id] = AgentInfo(agent.id, set(agent.capabilities))
        self.message_bus[agent.id] = agent.message_queue
        self.working[agent.id] = set()
        self.changed.set()
        self.dispatch()

    async def assign_task(self, task: Dict[str, Any]) -> str:
        task_id = f"task-{next(self._ids)}"
        self.tasks[task_id] = {"task": task, "agent": None, "attempt": 0, "failures": 0, "done": False}
        self.task_queue.append(task_id)
        self.dispatch()
        return task_id

    def free(self, info: AgentInfo) -> bool:
        return info.status != "offline" and not self.working[info.id]

    def choose(self, capability: AgentCapability) -> Optional[AgentInfo]:
        return next((info for info in self.agents.values()
                     if capability in info.capabilities and self.free(info)), None)

    def dispatch(self):
        for task_id in list(self.task_queue):
            record = self.tasks[task_id]
            info = self.choose(record["task"]["type"])
            if info is None:
                continue
            self.task_queue.remove(task_id)
            self.send_to(info, task_id, record)

    def send_to(self, info: AgentInfo, task_id: str, record: Dict[str, Any]):
        record["agent"], record["attempt"] = info.id, record["attempt"] + 1
        self.working[info.id].add(task_id)
        info.status = "busy"
        self.message_bus[info.id].put_nowait(Message(
            MessageType.TASK_REQUEST, "coordinator", info.id,
            {"task_id": task_id, "attempt": record["attempt"], "task": record["task"]}))

    async def monitor_agents(self):
        while True:
            online = [info for info in self.agents.values() if info.status != "offline"]
            self.changed.clear()
            if not online:
                await self.changed.wait()
                continue
            next_deadline = min(info.last_heartbeat for info in online) + HEARTBEAT_TIMEOUT
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.0, next_deadline - _loop_time()))
            except asyncio.TimeoutError:
                pass
            now = _loop_time()
            for info in online:
                if now >= info.last_heartbeat + HEARTBEAT_TIMEOUT:
                    self.went_offline(info)
            self.dispatch()

    def went_offline(self, info: AgentInfo):
        info.status = "offline"
        lost, self.working[info.id] = self.working[info.id], set()
        for task_id in sorted(lost, reverse=True):
            self.tasks[task_id]["agent"] = None
            self.task_queue.appendleft(task_id)

    async def run(self):
        monitor = asyncio.ensure_future(self.monitor_agents())
        try:
            while True:
                self.handle(await self.inbox.get())
        finally:
            monitor.cancel()

    def handle(self, message: Message):
        info = self.agents.get(message.sender)
        if info is None:
            return
        if message.type is MessageType.HEARTBEAT:
            info.last_heartbeat = _loop_time()
            if info.status == "offline":
                info.status = "idle"
            self.changed.set()
        elif message.type is MessageType.TASK_RESULT:
            self.on_result(info, message.content)
        self.dispatch()

    def on_result(self, info: AgentInfo, content: Dict[str, Any]):
        record = self.tasks.get(content["task_id"])
        if record is None or record["done"] or record["agent"] != info.id \
                or record["attempt"] != content["attempt"]:
            return  # late or duplicate: that attempt no longer counts
        self.working[info.id].discard(content["task_id"])
        record["agent"] = None
        if info.status == "busy" and not self.working[info.id]:
            info.status = "idle"
        if content["error"] is None:
            record["done"] = True
            self.results[content["task_id"]] = content["result"]
            info.tasks_completed += 1
            self.done_by[info.id] = self.done_by.get(info.id, 0) + 1
            self.completed += 1
            return
        record["failures"] += 1
        if record["failures"] < MAX_ATTEMPTS:
            self.task_queue.appendleft(content["task_id"])
        else:
            record["done"] = True
            self.failed += 1

    def get_stats(self) -> Dict[str, Any]:
        return {"completed": self.completed, "failed": self.failed,
                "queued": len(self.task_queue),
                "agents": {agent_id: {"completed": self.done_by.get(agent_id, 0), "status": info.status}
                           for agent_id, info in self.agents.items()}}


class SearchAgent(BaseAgent):
    def __init__(self, agent_id: str):
        super().__init__(agent_id, {AgentCapability.SEARCH})

    async def process_task(self, task: Dict[str, Any]) -> Any:
        await asyncio.sleep(1)
        return {"results": f"搜索结果: {task.get('query')}"}
