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
#   4. 重试：最多尝试 1 + max_retries 次；第 k 次重试前等 retry_delay * 2**(k-1) 秒，等待时不占工作槽；
#      retries 记录重试次数，error 保留最后一次异常。
#   5. 监控：get_stats() 随时可调用，返回 total、completed、failed（含 timeout）和 status（7 种状态的数量）。
#
# 评分用的场景（任务 id、时长、优先级）每份作业都不一样，由评分器随机生成：只有真正满足上面的要求才能通过。
# 提示：不要用 `while ...: await asyncio.sleep(0.1)` 轮询：评分用的是虚拟时钟，能精确量出
# “工作槽空出来”到“下一个任务开始”之间晚了多少，轮询会因此丢分。
#
# 也可以一步一步来：notebooks/05_challenge1_scheduler.ipynb 把这个文件分成五步，
# 每步之后只检查一项：python -m course_lib.grading exercises/challenge1_scheduler.py --only priority

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
    priority: int = 1  # 数字越小越先运行
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
    """按优先级和依赖运行任务；限制同时运行的数量，支持超时和重试。"""

    def __init__(self, max_workers: int = 5):
        """创建一个空的调度器。

        约定：同一时刻最多有 ``max_workers`` 个任务函数在运行。
        （评分器在协程里创建调度器，所以在这里创建 ``asyncio.Semaphore`` 这类对象也没问题。）
        """
        self.max_workers = max_workers
        # TODO: priority queue (heapq), dependency bookkeeping, concurrency limit, statistics
        pass

    async def add_task(self, task: Task) -> str:
        """登记 *task*，返回它的 id。

        约定：任务都在 ``run()`` 之前加入；优先级相同时，先加入的先运行。
        """
        # TODO
        pass

    async def process_task(self, task: Task) -> Task:
        """把一个任务运行到最终状态，并返回它。

        约定：
        - 调用 ``task.func(*task.args, *依赖的结果, **task.kwargs)``：依赖是集合时，
          结果按依赖的 id 排序；是列表时，按列表的顺序（就像章节里的 ``task_b(a_result)``）；
        - 每一次尝试最多运行 ``task.timeout`` 秒，超时就取消这次尝试；
          最后一次尝试超时的任务，最终状态是 ``TaskStatus.TIMEOUT``；
        - 尝试失败就重试，一共最多尝试 ``1 + task.max_retries`` 次；
          第 k 次重试之前等 ``task.retry_delay * 2 ** (k - 1)`` 秒，等待期间不占工作槽
          （别的任务可以先用它）；
          ``task.retries`` 记已经重试了几次，``task.error`` 保存最后一次的异常；
          一直没成功的任务，最终状态是 ``TaskStatus.FAILED``；
        - 成功时把返回值存进 ``task.result``，最终状态是 ``TaskStatus.COMPLETED``。
        """
        # TODO
        pass

    async def run(self) -> Dict[str, Task]:
        """把加入的每个任务都运行到最终状态，返回 ``{任务id: 任务}``。

        约定：
        - 依赖了不存在的任务，或者依赖绕成一个圈：在运行任何任务之前抛出 ``ValueError``；
        - 一旦有空闲的工作槽，就在那一刻启动“已就绪”（依赖都 COMPLETED）的任务里
          ``priority`` 最小的那个；一样小的，先加入的先启动；
        - 同时运行的任务不超过 ``max_workers`` 个；就绪的任务够多时，要把工作槽都用上；
        - 某个依赖最终是 FAILED、TIMEOUT 或 CANCELLED 时，直接或间接依赖它的任务都
          不再运行，最终状态是 ``TaskStatus.CANCELLED``，``run()`` 照常返回；
        - 靠事件醒来（某个任务结束了），不要用 sleep 定时轮询：评分器会量出任务晚开始了多少。
        """
        # TODO
        pass

    def get_stats(self) -> Dict[str, Any]:
        """任何时候都能调用的统计，``run()`` 运行途中也可以。

        约定：返回一个字典，包含 ``total``（加入的任务数）、``completed``、
        ``failed``（FAILED 加上 TIMEOUT）和 ``status``：一个字典，
        给出每种 ``TaskStatus`` 的值（"pending"、"waiting"……）各有几个任务。
        """
        # TODO
        pass


# 补全后运行 `python exercises/challenge1_scheduler.py`：用你的实现跑章节自带的 test_scheduler()
if __name__ == "__main__":
    import sys

    from course_lib.chapter_reference import chapter_test_scheduler

    asyncio.run(chapter_test_scheduler(sys.modules[__name__]))
