"""The scheduler's task graph, in layers by topological generation.

Example use::

    fig = dag_plot(scheduler)    # after (or during) a run

Generation 0 holds the tasks without dependencies; each other task sits one
layer right of its deepest dependency, so every arrow points right.  Nodes
are coloured by final status and labelled with id and priority.  Past
*max_nodes* tasks the plot turns into one stacked bar of status counts per
layer, and says so.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from graphlib import TopologicalSorter
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Circle, Patch

from ..scheduler.task import TaskStatus
from ..i18n import say, tr
from .fonts import course_figure, plot_style
from .timeline import OUTCOME_COLORS
from .tracks import TaskTrack, build_tracks, events_of

__all__ = ["dag_plot", "generations"]

STATUS_COLORS = {**OUTCOME_COLORS, TaskStatus.PENDING: "#cfcfcf", TaskStatus.WAITING: "#f2f2f2",
                 TaskStatus.RUNNING: OUTCOME_COLORS[None]}


def generations(tracks: dict[str, TaskTrack]) -> dict[str, int]:
    """Layer of each task: 0 without dependencies, else 1 + its deepest dependency's."""
    graph = {tid: [d for d in t.dependencies if d in tracks] for tid, t in tracks.items()}
    layer: dict[str, int] = {}
    for tid in TopologicalSorter(graph).static_order():
        layer[tid] = 1 + max((layer[d] for d in graph[tid]), default=-1)
    return layer


def dag_plot(source: Any, *, max_nodes: int = 60, title: str | None = None) -> Figure:
    """Draw the dependency graph of a `SmartScheduler` (or of a recorded event list)."""
    tracks = build_tracks(events_of(source))
    layer = generations(tracks)
    columns: dict[int, list[str]] = defaultdict(list)
    for tid in tracks:  # add order within a layer
        columns[layer[tid]].append(tid)
    depth = 1 + max(columns, default=0)
    with plot_style():
        if len(tracks) > max_nodes:
            fig = _per_layer(tracks, columns, depth)
        else:
            height = max(len(c) for c in columns.values()) if columns else 1
            fig = course_figure(figsize=(max(4, 2.2 * depth), max(2.5, 0.9 * height + 1)))
            ax = fig.add_subplot()
            _draw_nodes(ax, tracks, columns, height)
        fig.axes[0].set_title(title or tr("任务依赖图"))
        fig.tight_layout()
    return fig


def _draw_nodes(ax: Any, tracks: dict[str, TaskTrack], columns: dict[int, list[str]],
                height: int) -> None:
    pos = {}
    for x, ids in columns.items():
        offset = (height - len(ids)) / 2
        for i, tid in enumerate(ids):
            pos[tid] = (x * 2.0, -(offset + i))
    for tid, track in tracks.items():
        for dep in track.dependencies:
            if dep in pos:
                # An edge that skips layers bends, so it does not run through the nodes between.
                bend = 0.3 if pos[tid][0] - pos[dep][0] > 2.0 else 0.0
                ax.annotate("", xy=pos[tid], xytext=pos[dep], gid=f"edge:{dep}->{tid}",
                            arrowprops={"arrowstyle": "->", "color": "#555555",
                                        "shrinkA": 18, "shrinkB": 18,
                                        "connectionstyle": f"arc3,rad={bend}"})
    for tid, (x, y) in pos.items():
        track = tracks[tid]
        ax.add_patch(Circle((x, y), 0.35, facecolor=STATUS_COLORS[track.status],
                            edgecolor="#333333", gid=f"node:{tid}"))
        text = tid + ("" if track.priority is None else f"\np{track.priority:g}")
        ax.text(x, y, text, ha="center", va="center", fontsize=7)
    xs = [p[0] for p in pos.values()] or [0]
    ys = [p[1] for p in pos.values()] or [0]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(handles=_status_legend(tracks), loc="upper left", bbox_to_anchor=(1.0, 1), fontsize=8)


def _per_layer(tracks: dict[str, TaskTrack], columns: dict[int, list[str]], depth: int) -> Figure:
    fig = course_figure(figsize=(max(5, 0.5 * depth + 3), 3.5))
    ax = fig.add_subplot()
    statuses = [s for s in TaskStatus if any(t.status is s for t in tracks.values())]
    bottoms = [0] * depth
    for status in statuses:
        counts = [Counter(tracks[t].status for t in columns.get(x, ()))[status] for x in range(depth)]
        ax.bar(range(depth), counts, bottom=bottoms, color=STATUS_COLORS[status],
               edgecolor="#333333", label=say(status), gid=f"layer:{status.value}")
        bottoms = [b + c for b, c in zip(bottoms, counts)]
    ax.set_xlabel(tr("层（拓扑世代）"))
    ax.set_ylabel(tr("任务数"))
    ax.legend(fontsize=8)
    ax.text(0, -0.25, tr("{n} 个任务：按层汇总显示", n=len(tracks)),
            transform=ax.transAxes, fontsize=8, color="#555555", gid="note")
    return fig


def _status_legend(tracks: dict[str, TaskTrack]) -> list[Patch]:
    present = [s for s in TaskStatus if any(t.status is s for t in tracks.values())]
    return [Patch(facecolor=STATUS_COLORS[s], edgecolor="#333333", label=say(s)) for s in present]
