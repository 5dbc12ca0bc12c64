"""`SmartScheduler.why_waiting`: put what holds a task back into words.

A read-only view of the scheduler's state, in English or Chinese (state
names too: see `course_lib.i18n`).
"""

from __future__ import annotations

from typing import Any

from .._catalog import NAMES
from .task import TaskStatus

MAX_LISTED = 5
_UNSUCCESSFUL = frozenset({TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED})

TEXT = {
    "en": {
        "ended": "task {id!r} is not waiting: it has ended ({status}).",
        "running": "task {id!r} is not waiting: it is running (attempt {attempt}, worker slot {slot}).",
        "deps": "task {id!r} is waiting for its dependencies: {deps}.",
        "backoff": "task {id!r} is backing off after attempt {attempt} ended {outcome}; "
                   "it re-enters the queue at t={at:g} (in {left:g} s).",
        "idle": "task {id!r} is ready, but the scheduler is not running: call run().",
        "unknown": "task {id!r} depends on {deps}, which no task is called: add them, "
                   "or run() will refuse it.",
        "deps_idle": "once run() starts, task {id!r} will wait for its dependencies: {deps}.",
        "refused": "task {id!r} cannot start: run() will refuse the tasks added so far ({error}).",
        "doomed": "once run() starts, task {id!r} will be cancelled at once: its upstream task "
                  "{up!r} ended {status}.",
        "busy": "all {n} worker slots are busy (running: {running})",
        "ahead": "{k} ready task(s) with higher priority or added earlier are ahead of it: {ahead}",
        "queued": "task {id!r} is ready and queued: {reasons}.",
        "next": "task {id!r} is ready and is next in line for a free worker slot.",
        "join": "; and ",
    },
    "zh": {
        "ended": "任务 {id} 没有在等待：它已经结束了（{status}）。",
        "running": "任务 {id} 没有在等待：它正在运行（第 {attempt} 次尝试，工作槽 {slot}）。",
        "deps": "任务 {id} 在等它的依赖完成：{deps}。",
        "backoff": "任务 {id} 第 {attempt} 次尝试结果为 {outcome}，正在退避等待重试；"
                   "将在 t={at:g}（{left:g} 秒后）重新排队。",
        "idle": "任务 {id} 已经就绪，但调度器还没有运行：请调用 run()。",
        "unknown": "任务 {id} 依赖的 {deps} 还不存在：先用 add_task 加上，否则 run() 会拒绝它。",
        "deps_idle": "调用 run() 之后，任务 {id} 要先等依赖完成：{deps}。",
        "refused": "任务 {id} 没法开始：run() 会拒绝目前加入的这些任务（{error}）。",
        "doomed": "调用 run() 之后，任务 {id} 会立刻被取消：它上游的任务 {up} 已经结束了（{status}）。",
        "busy": "全部 {n} 个工作槽都在忙（正在运行：{running}）",
        "ahead": "前面还有 {k} 个优先级更高或更早加入的就绪任务：{ahead}",
        "queued": "任务 {id} 已就绪，正在排队：{reasons}。",
        "next": "任务 {id} 已就绪，下一个空闲工作槽就轮到它。",
        "join": "；而且",
    },
}


def _listing(ids: list[str]) -> str:
    shown = ", ".join(ids[:MAX_LISTED])
    return shown + (f", … (+{len(ids) - MAX_LISTED})" if len(ids) > MAX_LISTED else "")


def _before_run(scheduler: Any, node: Any, text: dict[str, str], name: Any) -> str:
    """What will happen to a task not yet handed to run(), most decisive first:
    an unknown dependency or a bad graph (run() refuses), an upstream task that
    did not complete (cancelled at once), dependencies to wait for, or none."""
    task = node.task
    unknown = [dep for dep in node.deps if dep not in scheduler.tasks]
    if unknown:
        return text["unknown"].format(id=task.id, deps=_listing(unknown))
    try:
        scheduler._check_graph(scheduler._inactive)  # the check run() makes first
    except ValueError as exc:
        return text["refused"].format(id=task.id, error=exc)
    failed = _unsuccessful_upstream(scheduler, task.id)
    if failed is not None:
        return text["doomed"].format(id=task.id, up=failed.id, status=name(failed.status))
    deps = [f"{dep} ({name(scheduler.tasks[dep].status)})" for dep in node.deps
            if scheduler.tasks[dep].status is not TaskStatus.COMPLETED]
    if deps:
        return text["deps_idle"].format(id=task.id, deps=_listing(deps))
    return text["idle"].format(id=task.id)


def _unsuccessful_upstream(scheduler: Any, task_id: str) -> Any:
    """An upstream task (direct or not) that ended without completing, or None.

    A walk over the dependencies of unfinished tasks, each visited once.
    """
    seen, stack = {task_id}, [task_id]
    while stack:
        for dep in scheduler._nodes[stack.pop()].deps:
            if dep in seen:
                continue
            seen.add(dep)
            upstream = scheduler.tasks[dep]
            if upstream.status in _UNSUCCESSFUL:
                return upstream
            if not upstream.status.is_terminal:
                stack.append(dep)
    return None


def explain(scheduler: Any, node: Any, lang: str) -> str:
    if lang not in TEXT:
        raise ValueError(f"lang must be one of {sorted(TEXT)}, got {lang!r}")
    text = TEXT[lang]

    def name(status: TaskStatus) -> str:
        return NAMES[status.value] if lang == "zh" else status.value

    task = node.task
    status = task.status
    if status.is_terminal:
        return text["ended"].format(id=task.id, status=name(status))
    if status is TaskStatus.RUNNING:
        last = task.attempts[-1]
        return text["running"].format(id=task.id, attempt=last.number, slot=last.slot)
    if status is TaskStatus.WAITING:
        deps = [
            f"{dep} ({name(scheduler.tasks[dep].status)})"
            for dep in node.deps
            if scheduler.tasks[dep].status is not TaskStatus.COMPLETED
        ]
        return text["deps"].format(id=task.id, deps=_listing(deps))
    if node.timer is not None:  # PENDING with a backoff timer
        last = task.attempts[-1]
        at = last.end + last.backoff
        left = max(0.0, at - scheduler._loop.time())
        return text["backoff"].format(
            id=task.id, attempt=last.number, outcome=name(last.outcome), at=at, left=left
        )
    if not scheduler._active:
        return _before_run(scheduler, node, text, name)
    entry = next((e for e in scheduler._ready if e[2] == task.id), None)
    ahead = sorted(
        e for e in scheduler._ready
        if entry is not None and e < entry and scheduler.tasks[e[2]].status is TaskStatus.PENDING
    )
    reasons = []
    if not scheduler._has_free_slot():
        running = sorted(scheduler._running, key=lambda tid: scheduler.tasks[tid].attempts[-1].slot)
        reasons.append(text["busy"].format(n=scheduler.max_workers, running=_listing(running)))
    if ahead:
        reasons.append(text["ahead"].format(k=len(ahead), ahead=_listing([e[2] for e in ahead])))
    if not reasons:
        return text["next"].format(id=task.id)
    return text["queued"].format(id=task.id, reasons=text["join"].join(reasons))
