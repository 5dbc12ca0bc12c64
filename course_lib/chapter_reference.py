"""The chapter's reference solution to challenge 1, kept as a specimen to study.

It is the code printed in the chapter, unchanged, and it is buggy: on the
chapter's own `test_scheduler()` it crashes with ``AttributeError: 'set'
object has no attribute 'append'`` (``asyncio.wait`` returns sets, and
``run()`` then appends to one).  It also polls with ``sleep(0.1)``, injects a
``dependencies=`` keyword that ``task_b(a_result)`` cannot accept, never
finishes when a dependency fails, and holds a semaphore slot while backing
off.  `course_lib.SmartScheduler` is the version that works.

Example use::

    ref = load()                 # as printed: crashes on the chapter's test
    ref = load(fixed=True)       # only the set/list crash repaired (SET_LIST_FIX)
    scheduler = ref.SmartScheduler(max_workers=3)
"""

from __future__ import annotations

import asyncio
import linecache
import sys
import types
from collections.abc import Coroutine
from typing import Any

__all__ = ["SOURCE", "SET_LIST_FIX", "load", "chapter_test_scheduler"]

FILENAME = "chapter_reference_solution.py"

SOURCE = '''\
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
    priority: int = 1
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
    def __init__(self, max_workers: int = 5):
        self.max_workers = max_workers
        self.semaphore = asyncio.Semaphore(max_workers)
        self.tasks: Dict[str, Task] = {}
        self.pending_queue: List[Task] = []
        self.completed_dependencies: Dict[str, Any] = {}
        self.running_tasks: Set[str] = set()
    
    async def add_task(self, task: Task) -> str:
        self.tasks[task.id] = task
        heapq.heappush(self.pending_queue, task)
        return task.id
    
    def _can_run(self, task: Task) -> bool:
        """检查任务是否可以运行"""
        return all(dep in self.completed_dependencies for dep in task.dependencies)
    
    async def _execute_with_timeout(self, task: Task) -> Any:
        """执行任务（带超时）"""
        # 注入依赖结果
        if task.dependencies:
            dep_results = {dep: self.completed_dependencies[dep] 
                          for dep in task.dependencies}
            task.kwargs['dependencies'] = dep_results
        
        return await asyncio.wait_for(
            task.func(*task.args, **task.kwargs),
            timeout=task.timeout
        )
    
    async def process_task(self, task: Task) -> Task:
        async with self.semaphore:
            task.status = TaskStatus.RUNNING
            task.started_at = datetime.now()
            self.running_tasks.add(task.id)
            
            while task.retries <= task.max_retries:
                try:
                    task.result = await self._execute_with_timeout(task)
                    task.status = TaskStatus.COMPLETED
                    task.completed_at = datetime.now()
                    self.completed_dependencies[task.id] = task.result
                    break
                
                except asyncio.TimeoutError:
                    task.status = TaskStatus.TIMEOUT
                    task.error = Exception("任务超时")
                    break
                
                except Exception as e:
                    task.error = e
                    task.retries += 1
                    
                    if task.retries <= task.max_retries:
                        await asyncio.sleep(task.retry_delay * task.retries)
                    else:
                        task.status = TaskStatus.FAILED
                        break
            
            self.running_tasks.remove(task.id)
            return task
    
    async def run(self) -> Dict[str, Task]:
        workers = []
        
        while self.pending_queue or workers:
            # 启动可运行的任务
            ready_tasks = []
            remaining = []
            
            while self.pending_queue:
                task = heapq.heappop(self.pending_queue)
                if self._can_run(task):
                    ready_tasks.append(task)
                else:
                    task.status = TaskStatus.WAITING
                    remaining.append(task)
            
            # 重新加入队列
            for task in remaining:
                heapq.heappush(self.pending_queue, task)
            
            # 启动新任务
            for task in ready_tasks:
                workers.append(asyncio.create_task(self.process_task(task)))
            
            # 等待任务完成
            if workers:
                done, workers = await asyncio.wait(
                    workers,
                    return_when=asyncio.FIRST_COMPLETED
                )
            
            await asyncio.sleep(0.1)  # 短暂休眠，避免busy loop
        
        return self.tasks
    
    def get_stats(self) -> Dict[str, Any]:
        status_counts = {}
        for status in TaskStatus:
            status_counts[status.value] = sum(
                1 for t in self.tasks.values() if t.status == status
            )
        
        return {
            "total": len(self.tasks),
            "status": status_counts,
            "completed": sum(1 for t in self.tasks.values() 
                           if t.status == TaskStatus.COMPLETED),
            "failed": sum(1 for t in self.tasks.values() 
                         if t.status in [TaskStatus.FAILED, TaskStatus.TIMEOUT])
        }
'''

_WAIT = """\
                done, workers = await asyncio.wait(
                    workers,
                    return_when=asyncio.FIRST_COMPLETED
                )
"""

# The smallest repair of the crash: turn the returned set back into a list.
SET_LIST_FIX = _WAIT + "                workers = list(workers)\n"


def load(fixed: bool = False) -> types.ModuleType:
    """Execute the reference solution as a fresh module.

    ``fixed=True`` applies `SET_LIST_FIX` and nothing else, so its other bugs
    can be studied (and benchmarked) on their own.
    """
    assert _WAIT in SOURCE
    source = SOURCE.replace(_WAIT, SET_LIST_FIX) if fixed else SOURCE
    filename = FILENAME if not fixed else FILENAME.replace(".py", "_fixed.py")
    # Register the text so tracebacks show the reference code's lines.
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    name = "chapter_reference_solution" + ("_fixed" if fixed else "")
    module = types.ModuleType(name, "The chapter's reference solution")
    module.__file__ = filename
    sys.modules[name] = module  # dataclasses looks the module up while building Task
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def chapter_test_scheduler(implementation: Any, **run_options: Any) -> Coroutine[Any, Any, Any]:
    """The chapter's ``test_scheduler()``, unchanged, run against *implementation*.

    *implementation* is anything with ``SmartScheduler`` and ``Task``
    attributes: ``course_lib`` itself, ``load()``, ``load(fixed=True)`` or a
    learner's module.  Returns the coroutine; run it with ``await`` or
    `course_lib.run_virtual`.  Its result is the scheduler the test built, so
    it can be plotted or inspected afterwards.

    *run_options* are passed on to that scheduler's ``run()``: with
    ``course_lib``, ``monitor=True`` opens the live dashboard while the test
    runs.  (The test's own code is not touched: its ``SmartScheduler`` is a
    subclass whose ``run`` adds the options and remembers the instance.)
    """
    built: list[Any] = []

    class SmartScheduler(implementation.SmartScheduler):  # type: ignore[name-defined, misc]
        async def run(self, *args: Any, **kwargs: Any) -> Any:
            built.append(self)
            return await super().run(*args, **{**run_options, **kwargs})

    names = {"asyncio": asyncio, "SmartScheduler": SmartScheduler, "Task": implementation.Task}
    chapter_test = types.FunctionType(test_scheduler.__code__, names)

    async def run_and_return_the_scheduler() -> Any:
        await chapter_test()
        return built[-1] if built else None

    return run_and_return_the_scheduler()


# The chapter's test code, verbatim; `chapter_test_scheduler` supplies its globals.
async def test_scheduler():
    scheduler = SmartScheduler(max_workers=3)
    
    # 定义测试任务
    async def task_a():
        await asyncio.sleep(1)
        return "A完成"
    
    async def task_b(a_result: str):
        await asyncio.sleep(1)
        return f"B完成（依赖: {a_result}）"
    
    async def task_c():
        await asyncio.sleep(0.5)
        return "C完成"
    
    async def task_fail():
        raise Exception("模拟失败")
    
    # 添加任务
    task_a_id = await scheduler.add_task(Task(
        id="task-a",
        func=task_a,
        priority=1
    ))
    
    task_b_id = await scheduler.add_task(Task(
        id="task-b",
        func=task_b,
        priority=2,
        dependencies={"task-a"}
    ))
    
    await scheduler.add_task(Task(
        id="task-c",
        func=task_c,
        priority=1
    ))
    
    await scheduler.add_task(Task(
        id="task-fail",
        func=task_fail,
        max_retries=2
    ))
    
    # 运行调度器
    results = await scheduler.run()
    
    # 打印结果
    print("\n=== 任务结果 ===")
    for task_id, task in results.items():
        print(f"{task_id}: {task.status.value} - {task.result or task.error}")
    
    print(f"\n=== 统计信息 ===")
    print(scheduler.get_stats())


test_scheduler.__test__ = False  # not a pytest test by itself
