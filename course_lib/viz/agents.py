"""Views of the agent system, drawn from its `AgentEvent` log.

Example use::

    fig = agent_timeline(coordinator)       # a lane per agent
    print(agent_report(coordinator))        # the text version

Each lane shows the agent's task attempts as bars (green completed, red
failed, grey hatched cut short because the agent went offline), heartbeats
as ticks, crashes as red crosses, offline spells shaded, and every restart
of a task on another agent as an arrow from the old lane to the new one.
Artists carry ``gid`` values (``"attempt:task-1:2"``, ``"heartbeat:a"``,
``"crash:a"``, ``"offline:a"``, ``"reassign:task-1:a->b"``) for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..agents.types import AgentStatus, EventKind
from ..i18n import say, tr
from .fonts import course_figure, plot_style
from .report import aligned
from .tracks import events_of

__all__ = ["AgentAttempt", "AgentLane", "agent_lanes", "agent_timeline", "agent_report",
           "describe_event", "queue_summary"]

ATTEMPT_COLORS = {"completed": "#2ca02c", "failed": "#d62728", "reassigned": "#bdbdbd",
                  "running": "#1f77b4"}
MAX_BAR_LABELS = 60
MAX_HEARTBEAT_TICKS = 400


@dataclass
class AgentAttempt:
    task_id: str
    attempt: int
    agent: str
    start: float
    end: Optional[float] = None
    outcome: str = "running"  # completed, failed, reassigned or running
    from_agent: Optional[str] = None


@dataclass
class AgentLane:
    id: str
    attempts: list[AgentAttempt] = field(default_factory=list)
    heartbeats: list[float] = field(default_factory=list)
    crashes: list[float] = field(default_factory=list)
    offline: list[list[Optional[float]]] = field(default_factory=list)  # [start, end] spells
    paused: list[list[Optional[float]]] = field(default_factory=list)
    ignored: list[float] = field(default_factory=list)
    status: str = "idle"


def agent_lanes(events: Any) -> tuple[dict[str, AgentLane], float]:
    """Lanes in registration order, and the time of the last event.

    Times count from the first event (on the virtual clock that is 0 anyway).
    """
    lanes: dict[str, AgentLane] = {}
    running: dict[str, AgentAttempt] = {}  # task id -> its current attempt
    last = 0.0

    def lane(agent_id: str) -> AgentLane:
        return lanes.setdefault(agent_id, AgentLane(agent_id))

    log = events_of(events)
    origin = log[0].time if log else 0.0  # a real loop's clock reads thousands of seconds
    for ev in log:
        ev = ev._replace(time=ev.time - origin)
        last = max(last, ev.time)
        kind = ev.kind.value
        if kind == "heartbeat":
            lane(ev.agent_id).heartbeats.append(ev.time)
        elif kind == "crash":
            lane(ev.agent_id).crashes.append(ev.time)
        elif kind == "pause":
            lane(ev.agent_id).paused.append([ev.time, None])
        elif kind == "resume" and lane(ev.agent_id).paused:
            lane(ev.agent_id).paused[-1][1] = ev.time
        elif kind == "ignored":
            lane(ev.agent_id).ignored.append(ev.time)
        elif kind == "agent":
            agent = lane(ev.agent_id)
            new = None if ev.new is None else str(ev.new.value)
            if new in (None, "offline") and agent.status != "offline":
                agent.offline.append([ev.time, None])
            elif new != "offline" and agent.status == "offline" and agent.offline:
                agent.offline[-1][1] = ev.time
            agent.status = new or "offline"
        elif kind == "task":
            new = ev.new.value
            current = running.pop(ev.task_id, None)
            if current is not None:
                current.end = ev.time
                if new in ("completed", "failed"):
                    current.outcome = new
                else:  # back to the queue: the agent failed it, or the agent went away
                    gone = lanes[current.agent].status == "offline"
                    current.outcome = "reassigned" if gone else "failed"
            if new == "running":
                attempt = AgentAttempt(ev.task_id, ev.attempt, ev.agent_id, ev.time,
                                       from_agent=ev.from_agent)
                lane(ev.agent_id).attempts.append(attempt)
                running[ev.task_id] = attempt
    return lanes, last


def agent_timeline(source: Any, *, title: Optional[str] = None) -> Figure:
    """Draw a coordinator run (or a recorded `AgentEvent` list), a lane per agent."""
    lanes, last = agent_lanes(source)
    rows = {agent_id: y for y, agent_id in enumerate(lanes)}
    attempts = [a for lane in lanes.values() for a in lane.attempts]
    beats = sum(len(lane.heartbeats) for lane in lanes.values())
    notes = []
    with plot_style():
        fig = course_figure(figsize=(10, 1.6 + 0.6 * max(1, len(lanes))))
        ax = fig.add_subplot()
        for agent_id, lane in lanes.items():
            y = rows[agent_id]
            for start, end in lane.offline:
                ax.axvspan(start, last if end is None else end, ymin=_frac(y, len(lanes), 0),
                           ymax=_frac(y, len(lanes), 1), color="#fde0dc", gid=f"offline:{agent_id}")
            for start, end in lane.paused:
                ax.axvspan(start, last if end is None else end, ymin=_frac(y, len(lanes), 0),
                           ymax=_frac(y, len(lanes), 1), color="#fff3c4", gid=f"pause:{agent_id}")
            for attempt in lane.attempts:
                end = last if attempt.end is None else attempt.end
                color = ATTEMPT_COLORS[attempt.outcome]
                # An attempt that failed at once has no length: its coloured edge still shows it.
                ax.barh(y, end - attempt.start, left=attempt.start, height=0.5, color=color,
                        edgecolor="white" if end > attempt.start else color, linewidth=1.5,
                        hatch="//" if attempt.outcome == "reassigned" else None,
                        gid=f"attempt:{attempt.task_id}:{attempt.attempt}")
                if len(attempts) <= MAX_BAR_LABELS and end > attempt.start:
                    ax.text((attempt.start + end) / 2, y, attempt.task_id, ha="center",
                            va="center", fontsize=7, color="black", clip_on=True)
            if beats <= MAX_HEARTBEAT_TICKS and lane.heartbeats:
                ax.plot(lane.heartbeats, [y + 0.35] * len(lane.heartbeats), "|", color="#555555",
                        markersize=6, gid=f"heartbeat:{agent_id}")
            if lane.crashes:
                ax.plot(lane.crashes, [y] * len(lane.crashes), "X", color="#d62728", markersize=11,
                        markeredgecolor="black", gid=f"crash:{agent_id}")
            if lane.ignored:
                ax.plot(lane.ignored, [y - 0.35] * len(lane.ignored), "o", color="#9467bd",
                        markersize=5, gid=f"ignored:{agent_id}")
        for attempt in attempts:
            # A retry on the same agent needs no arrow: the next bar on the lane says it.
            if attempt.from_agent in (None, attempt.agent) or attempt.from_agent not in rows:
                continue
            before = next((a for a in reversed(lanes[attempt.from_agent].attempts)
                           if a.task_id == attempt.task_id and a.attempt == attempt.attempt - 1), None)
            if before is None or before.end is None:
                continue
            moved = before.outcome == "reassigned"
            ax.annotate("", xy=(attempt.start, rows[attempt.agent]),
                        xytext=(before.end, rows[attempt.from_agent]),
                        arrowprops={"arrowstyle": "->", "lw": 1.4,
                                    "color": "black" if moved else "#d62728",
                                    "linestyle": "-" if moved else "--"},
                        gid=f"{'reassign' if moved else 'retry'}:{attempt.task_id}:"
                            f"{attempt.from_agent}->{attempt.agent}")
        if beats > MAX_HEARTBEAT_TICKS:
            notes.append(tr("{n} 次心跳：为了可读性没有画出", n=beats))
        if len(attempts) > MAX_BAR_LABELS:
            notes.append(tr("{n} 次尝试：隐藏了任务名", n=len(attempts)))
        ax.set_yticks(range(len(lanes)))
        ax.set_yticklabels([a for a in lanes], fontsize=8)
        ax.set_ylim(len(lanes) - 0.5, -0.5)
        ax.set_xlabel(tr("时间（秒，从第一个事件算起）"))
        ax.set_title(title or tr("Agent 时间线"))
        ax.grid(axis="x", alpha=0.3)
        ax.legend(handles=_legend(), loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
        if notes:
            ax.text(0.0, -0.25, "; ".join(notes), transform=ax.transAxes, fontsize=8,
                    color="#555555", va="top", gid="note")
        fig.tight_layout()
    return fig


def _frac(row: int, rows: int, edge: int) -> float:
    """axvspan y-range of a lane, in axes fraction (lane 0 at the top)."""
    return 1 - (row + 1 - edge) / max(rows, 1)


def _legend() -> list[Patch]:
    return [
        Patch(color=ATTEMPT_COLORS["completed"], label=tr("完成")),
        Patch(color=ATTEMPT_COLORS["failed"], label=tr("失败（换人重试）")),
        Patch(facecolor=ATTEMPT_COLORS["reassigned"], hatch="//", label=tr("被转走")),
        Patch(color="#fde0dc", label=tr("离线")),
        Patch(color="#fff3c4", label=tr("暂停")),
    ]


def agent_report(coordinator: Any, *, last_events: int = 5) -> str:
    """Per-agent load and status, the queue, totals and the last events, as text.

    Event times count from the first event of the run.
    """
    stats = coordinator.get_stats()
    lines = [queue_summary(stats)]
    rows = [[tr("Agent"), tr("状态"), tr("负载"), tr("完成"), tr("失败"), tr("平均耗时")]]
    for agent_id, agent in stats["agents"].items():
        load = agent["in_flight"] / max(agent["capacity"], 1)
        bar = "#" * round(10 * load) + "." * (10 - round(10 * load))
        rows.append([agent_id, say(AgentStatus(agent["status"])),
                     f"[{bar}] {agent['in_flight']}/{agent['capacity']}", str(agent["completed"]),
                     str(agent["failed"]), tr("{seconds:.2f} 秒", seconds=agent["avg_latency"])])
    lines += aligned(rows)
    log = list(coordinator.event_log or ())
    origin = log[0].time if log else 0.0
    lines += ["  " + describe_event(ev, start=origin) for ev in log[max(0, len(log) - last_events):]]
    return "\n".join(lines)


def queue_summary(stats: dict[str, Any]) -> str:
    """One line of a coordinator's totals (from `Coordinator.get_stats`)."""
    return tr("排队 {queued} | 运行中 {running} | 完成 {completed} | 失败 {failed} | 转交 {reassigned}"
              " | 吞吐量 {throughput:.2f} 个任务/秒", queued=stats["queued"], running=stats["running"],
              completed=stats["completed"], failed=stats["failed"], reassigned=stats["reassigned"],
              throughput=stats["throughput"])


def describe_event(ev: Any, *, start: float = 0.0) -> str:
    """One short line for an `AgentEvent`; its time counts from *start* (loop clock).

    Pass the time of the run's first event as *start* on a real loop, whose
    clock reads thousands of seconds; on the virtual clock runs start at 0.
    """
    t = ev.time - start
    if ev.kind is EventKind.TASK:
        old = say(ev.old) if ev.old is not None else tr("新任务")
        line = tr("t={t:.2f} {task}：{old} → {new}", t=t, task=ev.task_id, old=old, new=say(ev.new))
        if ev.agent_id:
            line += tr("，在 {agent} 上", agent=ev.agent_id)
        if ev.attempt:
            line += tr("（第 {n} 次尝试）", n=ev.attempt)
        # Why it moved matters: a failure and a reassignment look alike otherwise.
        return line + (tr("：{reason}", reason=say(ev.reason)) if ev.reason else "")
    if ev.kind is EventKind.AGENT:
        new = say(ev.new) if ev.new is not None else tr("已注销")
        line = tr("t={t:.2f} Agent {agent} → {new}", t=t, agent=ev.agent_id, new=new)
    else:
        line = tr("t={t:.2f} {kind} {agent}", t=t, kind=say(ev.kind), agent=ev.agent_id or "-")
    return line + (tr("（{reason}）", reason=say(ev.reason)) if ev.reason else "")
