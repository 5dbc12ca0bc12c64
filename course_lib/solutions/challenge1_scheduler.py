# 挑战 1 的一份参考解答：从 exercises/challenge1_scheduler.py 的骨架一步步写成。
#
# 先自己做，卡住了再来看。每一段都标了它属于 05 笔记本的第几步：
#   第 1 步 优先级队列 · 第 2 步 依赖 · 第 3 步 并发和超时 · 第 4 步 重试 · 第 5 步 监控
#
# 整体思路：没有“每隔 0.1 秒看一眼”的循环。调度器只在两种时刻做决定：
#   - run() 刚开始；
#   - 某个任务的一次尝试结束（asyncio 任务的完成回调）。
# 每次都做同一件事：只要还有空闲的工作槽，就从堆里弹出最优先的就绪任务启动它。
#
# 评分：python -m course_lib.grading course_lib/solutions/challenge1_scheduler.py

import asyncio
import heapq
import inspect
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Callable, Dict, List, Optional, Set


class TaskStatus(Enum):
    PENDING = "pending"
    WAITING = "waiting"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


FINAL = {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED}


@dataclass
class Task:
    id: str
    func: Callable
    args: tuple = field(default_factory=tuple)
    kwargs: dict = field(default_factory=dict)
    priority: int = 1  # 数字越小越先做
    dependencies: Set[str] = field(default_factory=set)
    timeout: float = 30.0
    max_retries: int = 3
    retry_delay: float = 1.0

    status: TaskStatus = TaskStatus.PENDING
    result: Any = None
    error: Optional[Exception] = None
    retries: int = 0
    created_at: datetime = field(default_factory=datetime.now)
    started_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None


class SmartScheduler:
    def __init__(self, max_workers: int = 5):
        self.max_workers = max_workers
        self.tasks: Dict[str, Task] = {}
        self._ready: List[tuple] = []  # 第 1 步：堆，元素是 (priority, 加入顺序, 任务 id)
        self._order: Dict[str, int] = {}  # 第 1 步：任务 id → 加入顺序
        self._unfinished_deps: Dict[str, int] = {}  # 第 2 步：还有几个依赖没完成
        self._dependents: Dict[str, List[str]] = {}  # 第 2 步：谁在等我
        self._running = 0  # 第 3 步：占用中的工作槽
        self._resume: Dict[str, asyncio.Future] = {}  # 第 4 步：退避结束、等工作槽的任务
        self._all_done: Optional[asyncio.Future] = None  # run() 在等它

    async def add_task(self, task: Task) -> str:
        if task.id in self.tasks:
            raise ValueError(f"重复的任务 id：{task.id!r}")
        self._order[task.id] = len(self._order)
        self.tasks[task.id] = task
        return task.id

    # ------------------------------------------------ 第 1 步：优先级队列 + 事件驱动

    async def run(self) -> Dict[str, Task]:
        self._check_graph()  # 第 2 步
        self._all_done = asyncio.get_running_loop().create_future()
        for tid, task in self.tasks.items():
            self._dependents.setdefault(tid, [])
            for dep in self._ordered_deps(task):
                self._dependents.setdefault(dep, []).append(tid)
            self._unfinished_deps[tid] = len(task.dependencies)
        for tid, task in self.tasks.items():
            if self._unfinished_deps[tid] == 0:
                self._make_ready(tid)
            else:
                task.status = TaskStatus.WAITING  # 第 5 步：状态要及时
        self._start_ready()
        self._maybe_finish()
        await self._all_done
        return dict(self.tasks)

    def _make_ready(self, tid: str) -> None:
        task = self.tasks[tid]
        task.status = TaskStatus.PENDING
        heapq.heappush(self._ready, (task.priority, self._order[tid], tid))

    def _start_ready(self) -> None:
        """有空槽就启动最优先的就绪任务。只在事件发生时被调用，从不轮询。"""
        while self._ready and self._running < self.max_workers:
            _, _, tid = heapq.heappop(self._ready)
            self._running += 1  # 第 3 步：占一个工作槽
            self.tasks[tid].status = TaskStatus.RUNNING
            waiter = self._resume.pop(tid, None)
            if waiter is not None:  # 第 4 步：退避完的任务拿到了槽
                waiter.set_result(None)
                continue
            runner = asyncio.ensure_future(self.process_task(self.tasks[tid]))
            runner.add_done_callback(lambda _, tid=tid: self._on_task_done(tid))

    def _on_task_done(self, tid: str) -> None:
        """完成回调：还回工作槽，放行或取消下游，再启动下一个任务。"""
        self._running -= 1
        if self.tasks[tid].status is TaskStatus.COMPLETED:
            for child in self._dependents[tid]:
                self._unfinished_deps[child] -= 1
                if self._unfinished_deps[child] == 0:
                    self._make_ready(child)
        else:
            self._cancel_dependents(tid)
        self._start_ready()
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if not self._all_done.done() and all(t.status in FINAL for t in self.tasks.values()):
            self._all_done.set_result(None)

    # ------------------------------------------------------------ 第 2 步：依赖

    def _check_graph(self) -> None:
        for task in self.tasks.values():
            missing = set(task.dependencies) - set(self.tasks)
            if missing:
                raise ValueError(f"任务 {task.id} 依赖了不存在的任务：{sorted(missing)}")
        state: Dict[str, str] = {}  # 深度优先找环："visiting" / "done"

        def visit(tid: str, path: List[str]) -> None:
            if state.get(tid) == "done":
                return
            if state.get(tid) == "visiting":
                cycle = path[path.index(tid):] + [tid]
                raise ValueError(f"循环依赖：{' → '.join(cycle)}")
            state[tid] = "visiting"
            for dep in self._ordered_deps(self.tasks[tid]):
                visit(dep, path + [tid])
            state[tid] = "done"

        for tid in self.tasks:
            visit(tid, [])

    @staticmethod
    def _ordered_deps(task: Task) -> List[str]:
        """集合按 id 排序，列表和元组按给出的顺序。"""
        deps = task.dependencies
        return sorted(deps) if isinstance(deps, (set, frozenset)) else list(deps)

    def _cancel_dependents(self, tid: str) -> None:
        """上游没成功：所有直接或间接依赖它的任务都取消（用栈，不用递归）。"""
        stack = list(self._dependents[tid])
        while stack:
            child = self.tasks[stack.pop()]
            if child.status is TaskStatus.WAITING:
                child.status = TaskStatus.CANCELLED
                child.error = RuntimeError(f"上游任务 {tid} 没有成功完成")
                stack.extend(self._dependents[child.id])

    # ------------------------------------------ 第 3 步（超时）和第 4 步（重试）

    async def process_task(self, task: Task) -> Task:
        upstream = [self.tasks[dep].result for dep in self._ordered_deps(task)]
        while True:
            task.started_at = datetime.now()
            try:
                task.result = await asyncio.wait_for(self._call(task, upstream), task.timeout)
                task.status = TaskStatus.COMPLETED
                break
            except asyncio.TimeoutError as exc:
                task.error, final = exc, TaskStatus.TIMEOUT
            except Exception as exc:  # noqa: BLE001 - 任务可以抛出任何异常
                task.error, final = exc, TaskStatus.FAILED
            if task.retries >= task.max_retries:
                task.status = final
                break
            task.retries += 1
            await self._back_off(task, task.retry_delay * 2 ** (task.retries - 1))
        task.completed_at = datetime.now()
        return task

    @staticmethod
    async def _call(task: Task, upstream: List[Any]) -> Any:
        result = task.func(*task.args, *upstream, **task.kwargs)
        return await result if inspect.isawaitable(result) else result

    async def _back_off(self, task: Task, delay: float) -> None:
        """退避期间把工作槽还回去；时间到了重新排队，轮到它时再继续。"""
        task.status = TaskStatus.PENDING
        self._running -= 1
        self._start_ready()
        await asyncio.sleep(delay)
        self._resume[task.id] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._ready, (task.priority, self._order[task.id], task.id))
        waiter = self._resume[task.id]
        self._start_ready()
        await waiter

    # ------------------------------------------------------------ 第 5 步：监控

    def get_stats(self) -> Dict[str, Any]:
        status = {state.value: 0 for state in TaskStatus}
        for task in self.tasks.values():
            status[task.status.value] += 1
        return {
            "total": len(self.tasks),
            "completed": status["completed"],
            "failed": status["failed"] + status["timeout"],
            "running": status["running"],
            "status": status,
        }
