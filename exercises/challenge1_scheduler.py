# 挑战 1：智能任务调度器 —— 练习骨架
#
# 把下面的 TODO 补全。自测命令（在项目根目录运行）：
#
#     python -m course_lib.grading exercises/challenge1_scheduler.py
#
# 评分器会逐条检查每个方法 docstring 里写的“约定”（contract）。简要中文版：
#   1. 优先级：数字越小越先执行；优先级相同按加入顺序；每次有空位时，启动“此刻已就绪”里最优先的任务。
#   2. 依赖：所有依赖都 completed 后才开始；依赖的结果作为额外的位置参数传给函数
#      （集合按 id 排序，列表按给出顺序）；上游失败/超时/取消 → 下游变成 cancelled，run() 仍然结束；
#      循环依赖或依赖了不存在的任务 → run() 抛出 ValueError，任何任务都不运行。
#   3. 并发与超时：同时运行的任务不超过 max_workers，且要真正并发；每次尝试超过 timeout 秒就取消，状态 timeout。
#   4. 重试：最多尝试 1 + max_retries 次；第 k 次重试前等 retry_delay * 2**(k-1) 秒；
#      retries 记录重试次数，error 保留最后一次异常。
#   5. 监控：get_stats() 随时可调用，返回 total、completed、failed（含 timeout）和 status（7 种状态的数量）。
#
# 评分用的场景（任务 id、时长、优先级）每份作业都不一样，由评分器随机生成：只有真正满足上面的要求才能通过。
# 提示：不要用 `while ...: await asyncio.sleep(0.1)` 轮询；评分用的是虚拟时钟，轮询会被发现。

import asyncio
from typing import List, Dict, Any, Optional, Callable, Set
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
import heapq


class TaskStatus(Enum):
    PENDING = "pending"
    WAITING = "waiting"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


@dataclass
class Task:
    id: str
    func: Callable
    args: tuple = field(default_factory=tuple)
    kwargs: dict = field(default_factory=dict)
    priority: int = 1  # lower runs first
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

    def __lt__(self, other):
        return self.priority < other.priority


class SmartScheduler:
    """Runs tasks by priority and dependencies, with a worker limit, timeouts and retries."""

    def __init__(self, max_workers: int = 5):
        """Create an empty scheduler.

        Contract: at most ``max_workers`` task functions run at the same time.
        Create no asyncio objects that need a running loop here if you can
        avoid it (the grader creates the scheduler inside a coroutine, so
        ``asyncio.Semaphore`` is fine).
        """
        self.max_workers = max_workers
        # TODO: priority queue (heapq), dependency bookkeeping, concurrency limit, statistics
        pass

    async def add_task(self, task: Task) -> str:
        """Register *task* and return its id.

        Contract: tasks are added before ``run()``; the add order breaks ties
        between equal priorities (first added runs first).
        """
        # TODO
        pass

    async def process_task(self, task: Task) -> Task:
        """Run one task to its final state and return it.

        Contract:
        - call ``task.func(*task.args, *dependency_results, **task.kwargs)``
          where the dependency results come in sorted id order for a set and
          in the given order for a list (the chapter's ``task_b(a_result)``);
        - each attempt is limited to ``task.timeout`` seconds; an attempt that
          overruns is cancelled; if the last attempt timed out the task ends
          ``TaskStatus.TIMEOUT``;
        - a failing attempt is retried, at most ``1 + task.max_retries``
          attempts in all, waiting ``task.retry_delay * 2 ** (k - 1)`` seconds
          before retry k; ``task.retries`` counts the retries made and
          ``task.error`` keeps the last exception; a task that never succeeds
          ends ``TaskStatus.FAILED``;
        - a success stores the return value in ``task.result`` and ends
          ``TaskStatus.COMPLETED``.
        """
        # TODO
        pass

    async def run(self) -> Dict[str, Task]:
        """Run every added task to a final state; return ``{task_id: task}``.

        Contract:
        - raise ``ValueError`` before running anything if a dependency id is
          unknown or the dependencies form a cycle;
        - whenever a worker is free, start the ready task (all dependencies
          COMPLETED) with the lowest ``priority``, ties by add order;
        - never run more than ``max_workers`` tasks at once, and do use all
          of them when enough tasks are ready;
        - when a dependency ends FAILED, TIMEOUT or CANCELLED, every task that
          depends on it (directly or not) ends ``TaskStatus.CANCELLED``
          without running, and ``run()`` still returns;
        - wake up on events (a task finished), not by polling with sleep.
        """
        # TODO
        pass

    def get_stats(self) -> Dict[str, Any]:
        """Counts at any moment, also while ``run()`` is working.

        Contract: a dict with ``total`` (tasks added), ``completed``,
        ``failed`` (FAILED plus TIMEOUT) and ``status``: a dict mapping every
        ``TaskStatus`` value ("pending", "waiting", ...) to its count.
        """
        # TODO
        pass


# 补全后运行 `python exercises/challenge1_scheduler.py`：用你的实现跑章节自带的 test_scheduler()
if __name__ == "__main__":
    import sys

    from course_lib.chapter_reference import chapter_test_scheduler

    asyncio.run(chapter_test_scheduler(sys.modules[__name__]))
