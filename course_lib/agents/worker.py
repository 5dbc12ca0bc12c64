"""Worker processes: one agent per process, talking to the coordinator over Redis.

Example use (a shell on any machine that can reach the Redis server)::

    python -m course_lib.agents worker --redis redis://:secret@10.0.0.5:6379/0 \\
        --namespace course --agent SearchAgent --id search-1 --capacity 2
    python -m course_lib.agents worker --redis URL --agent mypackage.agents:WeatherAgent --id weather-1

``--agent`` names one of the built-in agents (`SearchAgent`,
`CalculatorAgent`, `SummarizeAgent`, `TranslateAgent`) or, as
``package.module:ClassName``, a `BaseAgent` subclass of your own, imported
from the worker's Python path.  The worker imports only what its command
line names: a message can name no code to run, since messages are JSON.

The worker registers, heartbeats and runs tasks until it is told to stop:

* SIGTERM or Ctrl-C: it takes no new task, lets running ones finish for up
  to ``--grace`` seconds, says goodbye (the coordinator gives what is left to
  other agents at once) and exits with status 0; if the goodbye cannot get
  through within ``GOODBYE_TIMEOUT`` (5) seconds after that (Redis is
  unreachable), it exits anyway, and the coordinator notices the silence;
* SIGKILL, a power cut, a lost machine: nothing is said; the coordinator
  notices the silence after ``heartbeat_timeout`` and moves its tasks.  A
  worker restarted under the same ``--id`` is a new run of that agent: its
  registration moves the old run's tasks at once.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import math
import signal
import sys
from typing import Any, Callable, Optional, Sequence

from ..i18n import tr
from .agent import AgentRejectedError, BaseAgent
from .builtin import CalculatorAgent, SearchAgent, SummarizeAgent, TranslateAgent
from .bus import MessageBus

__all__ = ["WorkerError", "load_agent_class", "build_agent", "serve", "main"]

BUILTIN: dict[str, type[BaseAgent]] = {
    cls.__name__: cls for cls in (SearchAgent, CalculatorAgent, SummarizeAgent, TranslateAgent)}


GOODBYE_TIMEOUT = 5.0  # seconds a stopping worker waits to say goodbye, after the grace


class WorkerError(Exception):
    """A command line that cannot start a worker; the message says what to change."""


def load_agent_class(spec: str) -> type[BaseAgent]:
    """The agent class named by *spec*: a built-in name or ``package.module:ClassName``."""
    if spec in BUILTIN:
        return BUILTIN[spec]
    module_name, colon, class_name = spec.partition(":")
    if not colon or not module_name or not class_name:
        raise WorkerError(tr(
            "--agent {spec!r} 既不是内置 Agent（{builtin}），也不是 package.module:ClassName 的形式",
            spec=spec, builtin=", ".join(BUILTIN)))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise WorkerError(tr("导入 {module} 失败：{error}（这个模块在 worker 的 Python 路径上吗？）",
                             module=module_name, error=exc)) from None
    except Exception as exc:  # the module itself is broken: a SyntaxError, an error at import
        raise WorkerError(tr("导入 {module} 时它自己出错了：{kind}: {error}",
                             module=module_name, kind=type(exc).__name__, error=exc)) from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseAgent)):
        raise WorkerError(tr("{module} 里没有名为 {name} 的 BaseAgent 子类",
                             module=module_name, name=class_name))
    return cls


def build_agent(spec: str, agent_id: str, capacity: Optional[int] = None) -> BaseAgent:
    """An agent of class *spec* with id *agent_id* (and *capacity*, if given)."""
    cls = load_agent_class(spec)
    try:
        agent = cls(agent_id)
    except TypeError as exc:
        raise WorkerError(tr("{name}(agent_id) 无法创建：{error}（它的 __init__ 应该只需要 agent_id）",
                             name=cls.__name__, error=exc)) from None
    if capacity is not None:
        if type(capacity) is not int or capacity < 1:
            raise WorkerError(tr("--capacity 应为正整数，收到 {value!r}", value=capacity))
        agent.capacity = capacity
    return agent


async def serve(agent: BaseAgent, bus: MessageBus, *, coordinator_id: str = "coordinator",
                grace: float = 10.0, ready: Optional[Callable[[], Any]] = None) -> str:
    """Run *agent* on *bus* until the coordinator removes it or a stop signal comes.

    Returns why it ended, in words.  SIGTERM and SIGINT (Ctrl-C) stop it
    cleanly with `BaseAgent.stop` (*grace* seconds for running tasks); a
    goodbye that cannot get through gives up GOODBYE_TIMEOUT seconds later.
    ``ready()`` is called once the stop signals are handled.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    undo = _on_stop_signals(loop, stop.set)
    if ready is not None:
        ready()
    agent.attach(bus, coordinator_id)
    runner = agent.start()
    stopping = loop.create_task(stop.wait())
    try:
        await asyncio.wait([runner, stopping], return_when=asyncio.FIRST_COMPLETED)
        if not runner.done():
            try:  # bounded: with Redis unreachable, a goodbye would wait for its retries
                async with asyncio.timeout(grace + GOODBYE_TIMEOUT):
                    await agent.stop(grace)
            except TimeoutError:
                return tr("收到停止信号；{seconds:g} 秒内没能告别（Redis 连不上？），直接退出",
                          seconds=GOODBYE_TIMEOUT)
            return tr("收到停止信号，已告别")
        runner.result()  # AgentRejectedError, or whatever killed the loop
        return tr("协调器注销了这个 Agent")
    finally:
        undo()
        stopping.cancel()
        if not runner.done():
            runner.cancel()
        await asyncio.gather(runner, stopping, return_exceptions=True)


def _on_stop_signals(loop: asyncio.AbstractEventLoop, callback: Any) -> Any:
    """Call *callback* on SIGTERM, SIGINT or SIGBREAK; return a function that undoes it."""
    installed = []
    for name in ("SIGTERM", "SIGINT", "SIGBREAK"):  # SIGBREAK: Ctrl-Break on Windows
        number = getattr(signal, name, None)
        if number is None:
            continue
        try:
            loop.add_signal_handler(number, callback)
            installed.append(number)
        except (NotImplementedError, RuntimeError):  # Windows: no loop signal handlers
            signal.signal(number, lambda *_: loop.call_soon_threadsafe(callback))

    def undo() -> None:
        for number in installed:
            loop.remove_signal_handler(number)

    return undo


def _check_arguments(args: argparse.Namespace) -> None:
    """`WorkerError` for values argparse lets through but a worker cannot use."""
    for option, value in (("--id", args.agent_id), ("--namespace", args.namespace),
                          ("--coordinator", args.coordinator)):
        if not value.strip() or value != value.strip():
            raise WorkerError(tr("{option} 不能为空，也不能以空格开头或结尾，收到 {value!r}",
                                 option=option, value=value))
    if not (math.isfinite(args.grace) and args.grace >= 0):
        raise WorkerError(tr("--grace 应为不小于 0 的秒数，收到 {value!r}", value=args.grace))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.agents",
        description="Run course_lib agents in their own processes, over Redis Streams.")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run one agent until SIGTERM or Ctrl-C")
    worker.add_argument("--redis", required=True, metavar="URL",
                        help="redis://[:password@]host:port/db or rediss:// for TLS")
    worker.add_argument("--namespace", default="course", metavar="NS",
                        help="the coordinator's namespace (default: course)")
    worker.add_argument("--agent", required=True, metavar="CLASS",
                        help=f"one of {', '.join(BUILTIN)}, or package.module:ClassName")
    worker.add_argument("--id", required=True, dest="agent_id", metavar="ID",
                        help="the agent's id, unique among the agents")
    worker.add_argument("--capacity", type=int, default=None, metavar="N",
                        help="tasks it runs at once (default: the class's)")
    worker.add_argument("--coordinator", default="coordinator", metavar="ID",
                        help="the coordinator's id (default: coordinator)")
    worker.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                        help="on SIGTERM, how long running tasks may take to finish (default: 10)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command line; returns the exit status (0: stopped cleanly)."""
    args = _parser().parse_args(argv)
    try:
        _check_arguments(args)
        agent = build_agent(args.agent, args.agent_id, args.capacity)
        from .redis_bus import RedisBus  # only workers need redis-py

        try:
            bus = RedisBus(args.redis, namespace=args.namespace)
        except ValueError as exc:
            raise WorkerError(tr("--redis 不是可用的地址：{error}（形如 redis://[:密码@]主机:端口/库号，"
                                 "TLS 用 rediss://）", error=exc)) from None
    except WorkerError as exc:
        print(tr("worker 无法启动：{error}", error=exc), file=sys.stderr)
        return 2
    except ImportError as exc:
        print(tr("worker 需要 redis-py：pip install redis（{error}）", error=exc), file=sys.stderr)
        return 2

    def announce() -> None:
        print(tr("{agent} 已启动：命名空间 {namespace}，能力 {capabilities}，容量 {capacity}",
                 agent=agent.id, namespace=args.namespace,
                 capabilities=",".join(sorted(c.value for c in agent.capabilities)),
                 capacity=agent.capacity), flush=True)

    async def run() -> str:
        try:
            return await serve(agent, bus, coordinator_id=args.coordinator, grace=args.grace,
                               ready=announce)
        finally:
            await bus.aclose()

    try:
        why = asyncio.run(run())
    except AgentRejectedError as exc:
        print(tr("{agent} 被协调器拒绝：{error}", agent=agent.id, error=exc), file=sys.stderr)
        return 1
    except Exception as exc:  # a lost server, a wrong password: one clear line, no traceback
        print(tr("{agent} 出错停止：{kind}: {error}", agent=agent.id,
                 kind=type(exc).__name__, error=exc), file=sys.stderr)
        return 1
    print(tr("{agent} 已停止：{why}", agent=agent.id, why=why), flush=True)
    return 0
