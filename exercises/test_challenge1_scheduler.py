"""挑战 1 的示例测试：用 pytest 检查一个 SmartScheduler 有没有遵守练习文件里的约定。

在项目根目录运行（默认测的是和本文件放在一起的 challenge1_scheduler.py，也就是你的作业）：

    python -m pytest exercises/test_challenge1_scheduler.py

想先看看“全部通过”是什么样子，就用环境变量 SCHEDULER_UNDER_TEST 换一个被测的实现。
它的值可以是模块名（比如课程的 course_lib），也可以是一个 .py 文件的路径：

    SCHEDULER_UNDER_TEST=course_lib python -m pytest exercises/test_challenge1_scheduler.py          # macOS / Linux
    $env:SCHEDULER_UNDER_TEST="course_lib"; python -m pytest exercises/test_challenge1_scheduler.py  # Windows PowerShell

PowerShell 里设的环境变量在关掉这个终端之前一直有效：再测自己的文件之前，先运行
Remove-Item Env:SCHEDULER_UNDER_TEST 把它删掉。

和时间有关的测试都跑在课程的虚拟时钟上（course_lib.run_virtual）：sleep(1) 瞬间完成，
时间却精确，所以可以断言“正好在 t=1.0 开始”，而且每次运行结果都一样。
"""

import asyncio
import importlib
import importlib.util
import os
import sys
from pathlib import Path

import pytest

from course_lib import run_virtual

HERE = Path(__file__).resolve().parent


# ------------------------------------------------------------ 被测的实现


def load_implementation(target):
    """导入被测的实现：*target* 是模块名，或者 .py 文件的路径。

    返回的模块里要有 SmartScheduler、Task 和 TaskStatus 三个名字。
    """
    if not target.endswith(".py"):
        return importlib.import_module(target)
    path = Path(target).resolve()
    name = f"scheduler_under_test_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # @dataclass 创建 Task 时，要在 sys.modules 里找到这个模块
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def impl():
    """每个测试的参数 impl：被测的实现（默认是你的 exercises/challenge1_scheduler.py）。"""
    target = os.environ.get("SCHEDULER_UNDER_TEST") or str(HERE / "challenge1_scheduler.py")
    return load_implementation(target)


def simulate(scenario, limit=60.0):
    """在虚拟时钟上运行协程 *scenario*，返回它的结果。

    过了 *limit* 秒（虚拟时间）还没结束，就判这个测试失败，而不是一直卡着。
    """
    async def bounded():
        try:
            async with asyncio.timeout(limit) as deadline:
                return True, await scenario
        except TimeoutError:
            if not deadline.expired():
                raise  # TimeoutError 是被测的代码自己抛出的（比如没接住 wait_for 的超时），照实报告
            return False, None

    finished, result = run_virtual(bounded())
    if not finished:
        pytest.fail(f"{limit:g} 秒（虚拟时间）后还没结束：run() 是不是卡住了？")
    return result


# ------------------------------------------------------------ 测试


def test_lower_priority_number_starts_first_and_ties_keep_add_order(impl):
    async def scenario():
        loop = asyncio.get_running_loop()
        starts = []

        async def cook(name):
            starts.append((name, loop.time()))
            await asyncio.sleep(1)

        scheduler = impl.SmartScheduler(max_workers=1)  # 只有 1 个工作槽：一个接一个做
        for name, priority in [("soup", 2), ("rice", 0), ("salad", 2), ("tea", 1)]:
            await scheduler.add_task(impl.Task(id=name, func=cook, args=(name,), priority=priority))
        await scheduler.run()
        return starts

    # 数字小的先做；soup 和 salad 一样急，先加入的 soup 先做
    assert simulate(scenario()) == [("rice", 0.0), ("tea", 1.0), ("soup", 2.0), ("salad", 3.0)]


def test_a_dependent_task_starts_when_its_dependency_ends_and_gets_its_result(impl):
    async def scenario():
        loop = asyncio.get_running_loop()
        seen = {}

        async def fetch():
            await asyncio.sleep(1)
            return "数据"

        async def summarize(data):  # 依赖的结果作为位置参数传进来
            seen["start"], seen["data"] = loop.time(), data
            return f"摘要（{data}）"

        scheduler = impl.SmartScheduler(max_workers=2)
        await scheduler.add_task(impl.Task(id="fetch", func=fetch))
        await scheduler.add_task(impl.Task(id="summarize", func=summarize, dependencies={"fetch"}))
        results = await scheduler.run()
        return seen, results["summarize"]

    seen, task = simulate(scenario())
    assert seen == {"start": 1.0, "data": "数据"}  # 正好在 fetch 做完的那一刻开始
    assert task.status == impl.TaskStatus.COMPLETED
    assert task.result == "摘要（数据）"


def test_retries_wait_1_then_2_seconds(impl):
    async def scenario():
        loop = asyncio.get_running_loop()
        attempts = []

        async def flaky():  # 前两次失败，第三次成功
            attempts.append(loop.time())
            if len(attempts) <= 2:
                raise ConnectionError(f"第 {len(attempts)} 次：服务没响应")
            return "ok"

        scheduler = impl.SmartScheduler(max_workers=1)
        await scheduler.add_task(impl.Task(id="api", func=flaky, max_retries=3, retry_delay=1.0))
        results = await scheduler.run()
        return attempts, results["api"]

    attempts, task = simulate(scenario())
    assert attempts == [0.0, 1.0, 3.0]  # 失败后等 1 秒再试，又失败，等 2 秒再试
    assert task.status == impl.TaskStatus.COMPLETED
    assert task.retries == 2
    assert task.result == "ok"


def test_a_task_that_always_fails_is_tried_1_plus_max_retries_times(impl):
    async def scenario():
        loop = asyncio.get_running_loop()
        attempts = []

        async def broken():
            attempts.append(loop.time())
            raise ValueError(f"第 {len(attempts)} 次失败")

        scheduler = impl.SmartScheduler(max_workers=1)
        await scheduler.add_task(impl.Task(id="broken", func=broken, max_retries=2, retry_delay=0.5))
        results = await scheduler.run()
        return attempts, results["broken"]

    attempts, task = simulate(scenario())
    assert attempts == [0.0, 0.5, 1.5]  # 1 次 + 2 次重试；重试前等 0.5 秒、1 秒
    assert task.status == impl.TaskStatus.FAILED
    assert task.retries == 2
    assert str(task.error) == "第 3 次失败"  # error 留下的是最后一次的异常


def test_a_timeout_stops_the_attempt_exactly_at_its_deadline(impl):
    async def scenario():
        loop = asyncio.get_running_loop()
        stopped = []

        async def slow():
            try:
                await asyncio.sleep(10)
            finally:
                stopped.append(loop.time())  # 被取消时 finally 也会运行

        scheduler = impl.SmartScheduler(max_workers=1)
        await scheduler.add_task(impl.Task(id="slow", func=slow, timeout=2.0, max_retries=0))
        results = await scheduler.run()
        return stopped, results["slow"]

    stopped, task = simulate(scenario())
    assert stopped == [2.0]  # 正好在 2 秒的期限被取消
    assert task.status == impl.TaskStatus.TIMEOUT


def test_never_more_than_max_workers_at_once_and_no_slot_sits_idle(impl):
    async def scenario():
        loop = asyncio.get_running_loop()
        running = peak = 0

        async def dish():
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(1)
            running -= 1

        scheduler = impl.SmartScheduler(max_workers=2)
        for i in range(6):
            await scheduler.add_task(impl.Task(id=f"dish-{i}", func=dish))
        await scheduler.run()
        return peak, loop.time()

    peak, end = simulate(scenario())
    assert peak == 2  # 同时最多 2 个
    assert end == 3.0  # 6 道菜 × 1 秒 ÷ 2 个槽 = 3 秒：两个槽一直没闲着


@pytest.mark.asyncio  # async 测试：pytest-asyncio 给它开一个事件循环，在里面 await 它
async def test_add_task_returns_the_id_and_get_stats_counts_the_task(impl):
    async def noop():
        return None

    scheduler = impl.SmartScheduler()
    assert await scheduler.add_task(impl.Task(id="soup", func=noop)) == "soup"
    stats = scheduler.get_stats()
    assert stats["total"] == 1
    assert stats["status"]["pending"] == 1
