"""How a task's callable is called: dependency results, signature checks, sync vs async."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from .task import Task

__all__ = [
    "TaskSignatureError", "CallPlan", "plan_call", "ordered_dependencies", "refuse_generator_result",
]

_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class TaskSignatureError(TypeError, ValueError):
    """A task's callable cannot accept the arguments the scheduler would pass.

    A `TypeError` (it is about a call signature) and a `ValueError` (it is a
    bad `Task`), so either ``except`` catches it.
    """


@dataclass(frozen=True, slots=True)
class CallPlan:
    """What `add_task` decided about calling a callable with given arguments.

    It depends only on the callable and the shape of the call (see
    `plan_call`), so tasks that share a callable share one plan.
    """

    inject: str  # "positional", "keyword" (a ``dependencies`` parameter) or "none"
    is_async: bool

    def call_args(self, task: Task, deps: tuple[str, ...],
                  tasks: Mapping[str, Task]) -> tuple[tuple, dict]:
        """The ``(args, kwargs)`` for *task*, whose dependencies *deps* have completed."""
        if self.inject == "positional":
            return task.args + tuple(tasks[d].result for d in deps), task.kwargs
        if self.inject == "keyword":
            results = {d: tasks[d].result for d in deps}
            return task.args, {**task.kwargs, "dependencies": results}
        return task.args, task.kwargs


def ordered_dependencies(task: Task) -> tuple[str, ...]:
    """A set gives sorted id order; a list or tuple keeps its order."""
    deps = task.dependencies
    kind = type(deps)  # exact-type fast paths first: ABC isinstance checks are slow
    is_set = kind is set or kind is frozenset or (
        kind is not list and kind is not tuple and isinstance(deps, Set))
    if not is_set and kind is not list and kind is not tuple and (
            isinstance(deps, (str, bytes)) or not isinstance(deps, Sequence)):
        raise TypeError(
            f"task {task.id!r}: dependencies must be a set, list or tuple of task ids, "
            f"not {kind.__name__} ({deps!r})"
        )
    if not deps:
        return ()
    for dep in deps:
        if not isinstance(dep, str):
            raise TypeError(f"task {task.id!r}: dependency ids must be strings, got {dep!r}")
    ordered = tuple(sorted(deps)) if is_set else tuple(deps)
    if len(set(ordered)) != len(ordered):
        raise ValueError(f"task {task.id!r}: a dependency is listed twice in {list(ordered)}")
    return ordered


def _is_async(func: Any) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)
    )


def plan_call(task: Task, cache: dict | None = None) -> tuple[tuple[str, ...], CallPlan]:
    """Check that ``task.func`` accepts what the scheduler will pass, and how.

    Returns the task's `ordered_dependencies` and its `CallPlan`.  The plan
    depends only on the callable, the number of positional arguments, the
    keyword names and the number of dependencies; *cache* keeps one plan per
    such shape for a scheduler, since ``inspect.signature`` is slow and most
    tasks share a few callables.
    """
    if not callable(task.func):
        raise TaskSignatureError(f"task {task.id!r}: func must be callable, got {task.func!r}")
    if not isinstance(task.args, tuple) or not isinstance(task.kwargs, dict):
        raise TaskSignatureError(f"task {task.id!r}: args must be a tuple and kwargs a dict")
    deps = ordered_dependencies(task)
    if cache is None:
        return deps, _plan(task, deps)
    key = (task.func, len(task.args), tuple(task.kwargs), len(deps))
    try:
        return deps, cache[key]
    except TypeError:  # an unhashable callable
        return deps, _plan(task, deps)
    except KeyError:
        plan = cache[key] = _plan(task, deps)
        return deps, plan


# What to write instead of a task that would yield many results.
_COLLECT_ASYNC = ("a task runs to one result, so collect its items in a coroutine function: "
                  "async def collect(): return [item async for item in gen()]")
_COLLECT = "a task runs to one result, so return a list: def collect(): return list(gen())"


def _refuse_generators(task: Task) -> None:
    """A generator function's call returns a generator without running its body:
    the task would "complete" with that object.  Say what to write instead."""
    for func in (task.func, getattr(task.func, "__call__", None)):
        if inspect.isasyncgenfunction(func):
            raise TaskSignatureError(f"task {task.id!r}: func is an async generator function "
                                     f"(async def with yield); {_COLLECT_ASYNC}")
        if inspect.isgeneratorfunction(func):
            raise TaskSignatureError(f"task {task.id!r}: func is a generator function "
                                     f"(def with yield); {_COLLECT}")


def refuse_generator_result(func: Any, result: Any) -> None:
    """A sync function that *returns* a generator (``lambda: gen()``) makes the
    same mistake as a generator function, found only once it is called: the
    generator's body would run later, outside the attempt, its timeout and
    its worker slot.  Fail the attempt, saying what to write instead."""
    name = getattr(func, "__qualname__", repr(func))
    if inspect.isasyncgen(result):
        raise TaskSignatureError(f"{name}() returned an async generator; {_COLLECT_ASYNC}")
    if inspect.isgenerator(result):
        raise TaskSignatureError(f"{name}() returned a generator, whose body would run only "
                                 f"later, outside the task; {_COLLECT}")


def _plan(task: Task, deps: tuple[str, ...]) -> CallPlan:
    _refuse_generators(task)
    is_async = _is_async(task.func)
    try:
        sig = inspect.signature(task.func)
    except (TypeError, ValueError):  # some builtins have no signature: trust the caller
        return CallPlan("positional" if deps else "none", is_async)

    def fits(*args: Any, **kwargs: Any) -> str | None:
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            return str(exc)
        return None

    name = getattr(task.func, "__qualname__", repr(task.func))
    if not deps:
        problem = fits(*task.args, **task.kwargs)
        if problem:
            raise TaskSignatureError(
                f"task {task.id!r}: {name}() cannot be called with args={task.args!r} "
                f"kwargs={task.kwargs!r}: {problem}"
            )
        return CallPlan("none", is_async)

    param = sig.parameters.get("dependencies")
    if param is not None and param.kind in _KEYWORD_KINDS and "dependencies" not in task.kwargs:
        problem = fits(*task.args, dependencies={}, **task.kwargs)
        if problem is None:
            return CallPlan("keyword", is_async)
    if fits(*task.args, *deps, **task.kwargs) is None:
        return CallPlan("positional", is_async)
    problem = fits(*task.args, **task.kwargs)
    if problem is None:
        return CallPlan("none", is_async)
    raise TaskSignatureError(
        f"task {task.id!r}: {name}() cannot be called with args={task.args!r} "
        f"kwargs={task.kwargs!r}, neither with the results of {list(deps)} appended "
        f"as positional arguments nor without them: {problem}"
    )
