"""Gantt-style timeline of a scheduler run, drawn from its events.

Example use::

    fig = scheduler_timeline(scheduler)              # one row per task
    fig = scheduler_timeline(scheduler.event_log, by="slot")
    fig.savefig("run.png")

Every artist that stands for something carries a ``gid`` (``"run:task-a:1"``,
``"queued:task-b"``, ``"dep:task-a->task-b"``, ...) so tests and learners can
find it.  The figure is built with ``matplotlib.figure.Figure``: nothing is
shown or printed as a side effect.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Optional

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..scheduler.task import TaskStatus
from ..i18n import say, tr
from .fonts import course_figure, plot_style
from .tracks import TaskTrack, build_tracks, events_of

__all__ = ["scheduler_timeline", "OUTCOME_COLORS", "SPAN_STYLES"]

OUTCOME_COLORS = {
    TaskStatus.COMPLETED: "#2ca02c",
    TaskStatus.FAILED: "#d62728",
    TaskStatus.TIMEOUT: "#ff7f0e",
    TaskStatus.CANCELLED: "#7f7f7f",
    None: "#1f77b4",  # still running
}
SPAN_STYLES = {
    "queued": {"color": "#cfcfcf", "height": 0.3},
    "waiting": {"color": "#f2f2f2", "height": 0.3, "hatch": "///", "edgecolor": "#9e9e9e"},
    "backoff": {"color": "white", "height": 0.3, "edgecolor": "#d62728", "linestyle": "--"},
}
RUN_HEIGHT = 0.7
MAX_ARROWS = 60
MAX_BAR_LABELS = 60


def scheduler_timeline(
    source: Any, *, by: str = "task", max_rows: int = 40, title: Optional[str] = None
) -> Figure:
    """Draw a finished (or recorded) run: a row per task, or per worker slot.

    *source* is a `SmartScheduler` or a list of `TaskEvent`.  Rows beyond
    *max_rows* tasks are cut, and the plot says so; ``by="slot"`` always shows
    the whole run.
    """
    if by not in ("task", "slot"):
        raise ValueError(f"by must be 'task' or 'slot', got {by!r}")
    tracks = _shifted(build_tracks(events_of(source)))
    with plot_style():
        fig = course_figure(figsize=(10, 1.5 + 0.35 * _row_count(tracks, by, max_rows)))
        ax = fig.add_subplot()
        if by == "task":
            note = _draw_by_task(ax, tracks, max_rows)
        else:
            note = _draw_by_slot(ax, tracks)
        ax.set_xlabel(tr("时间（秒，从第一个事件算起）"))
        ax.set_title(title or tr("调度时间线"))
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        ax.legend(handles=_legend(), loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
        if note:
            ax.text(0.0, -0.12 - 0.3 / max(1, fig.get_figheight()), note, transform=ax.transAxes,
                    fontsize=8, color="#555555", va="top", gid="note")
        fig.tight_layout()
    return fig


def _shifted(tracks: dict[str, TaskTrack]) -> dict[str, TaskTrack]:
    """Measure time from the first event: a real loop's clock reads thousands of seconds.

    (On the virtual clock the first event is at 0, so nothing moves.)
    """
    origin = min((t.added for t in tracks.values()), default=0.0)
    if not origin:
        return tracks
    for track in tracks.values():
        track.added -= origin
        track.ended = None if track.ended is None else track.ended - origin
        track.spans = [replace(s, start=s.start - origin, end=s.end - origin) for s in track.spans]
    return tracks


def _row_count(tracks: dict[str, TaskTrack], by: str, max_rows: int) -> int:
    if by == "slot":
        return 1 + max((s.slot for t in tracks.values() for s in t.runs), default=0)
    return min(len(tracks), max_rows)


def _bar(ax: Any, y: float, start: float, end: float, gid: str, **style: Any) -> None:
    height = style.pop("height", RUN_HEIGHT)
    color = style.pop("color")
    # A zero-length attempt is still drawn: its edge makes it a visible line.
    edge = style.pop("edgecolor", color)
    ax.barh(y, end - start, left=start, height=height, color=color, edgecolor=edge,
            linewidth=1.2, gid=gid, **style)


def _draw_by_task(ax: Any, tracks: dict[str, TaskTrack], max_rows: int) -> str:
    shown = list(tracks.values())[:max_rows]
    rows = {track.id: y for y, track in enumerate(shown)}
    for y, track in enumerate(shown):
        for span in track.spans:
            if span.kind == "run":
                _bar(ax, y, span.start, span.end, f"run:{track.id}:{span.attempt}",
                     color=OUTCOME_COLORS[span.outcome])
            elif span.end > span.start:
                _bar(ax, y, span.start, span.end, f"{span.kind}:{track.id}", **SPAN_STYLES[span.kind])
        if track.status is TaskStatus.CANCELLED and not track.runs:
            ax.plot([track.ended], [y], marker="x", color=OUTCOME_COLORS[TaskStatus.CANCELLED],
                    markersize=9, gid=f"cancelled:{track.id}")
    if len(rows) <= MAX_ARROWS:
        for track in shown:
            for dep in track.dependencies:
                head = track.runs[0].start if track.runs else track.ended
                # Only arrows that go forward in time: a task cancelled by one
                # failed dependency may end before its other dependencies do.
                if dep in rows and tracks[dep].ended is not None and head is not None \
                        and tracks[dep].ended <= head:
                    ax.annotate("", xy=(head, rows[track.id]), xytext=(tracks[dep].ended, rows[dep]),
                                arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1},
                                gid=f"dep:{dep}->{track.id}")
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([_row_label(t) for t in shown], fontsize=8)
    if len(tracks) > len(shown):
        return tr("只显示前 {shown} 个任务（共 {total} 个）；用 by='slot' 查看整个运行",
                  shown=len(shown), total=len(tracks))
    return ""


def _draw_by_slot(ax: Any, tracks: dict[str, TaskTrack]) -> str:
    runs = [(track, span) for track in tracks.values() for span in track.runs]
    with_labels = len(runs) <= MAX_BAR_LABELS
    for track, span in runs:
        # White edges keep back-to-back attempts on one slot apart.
        _bar(ax, span.slot, span.start, span.end, f"run:{track.id}:{span.attempt}",
             color=OUTCOME_COLORS[span.outcome], edgecolor="white")
        if with_labels and span.end > span.start:
            ax.text((span.start + span.end) / 2, span.slot, track.id, ha="center",
                    va="center", fontsize=7, color="white", clip_on=True)
    slots = _row_count(tracks, "slot", 0)
    ax.set_yticks(range(slots))
    ax.set_yticklabels([tr("工作槽 {i}", i=i) for i in range(slots)], fontsize=8)
    if not with_labels:
        return tr("{n} 次尝试：为了可读性隐藏了任务名", n=len(runs))
    return ""


def _row_label(track: TaskTrack) -> str:
    return track.id if track.priority is None else f"{track.id} (p{track.priority:g})"


def _legend() -> list[Patch]:
    outcomes = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED)
    handles = [Patch(color=OUTCOME_COLORS[s], label=say(s)) for s in outcomes]
    handles += [
        Patch(facecolor=SPAN_STYLES["queued"]["color"], label=tr("排队")),
        Patch(facecolor=SPAN_STYLES["waiting"]["color"], hatch="///", edgecolor="#9e9e9e",
              label=tr("等依赖")),
        Patch(facecolor="white", edgecolor="#d62728", linestyle="--",
              label=tr("退避")),
    ]
    return handles
