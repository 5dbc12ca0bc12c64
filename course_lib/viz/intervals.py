"""A generic timeline: one bar per (row, start, end) record.

Example use::

    from course_lib.viz import interval_timeline

    fig = interval_timeline([
        ("download", 0.0, 1.0),
        ("parse", 1.0, 1.5, "CPU"),            # optional 4th field: colour group
        ("worker-1", 0.2, 0.9, "I/O", "job 3"),  # optional 5th field: text on the bar
    ], title="my run")

Rows appear in the order their first record does.  Times are shifted so the
earliest start is 0 (pass ``origin=`` to choose another zero).  Built with
``matplotlib.figure.Figure``: nothing is shown or printed as a side effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..i18n import tr
from .fonts import course_figure, plot_style

__all__ = ["Interval", "PALETTE", "interval_timeline"]

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
MAX_ROWS = 40


@dataclass(frozen=True)
class Interval:
    """One bar: *row* it sits on, *start* and *end* times, colour group *kind*, *text* on it."""

    row: str
    start: float
    end: float
    kind: str = ""
    text: str = ""


Record = Union[Interval, Sequence[Any]]


def _as_interval(record: Record) -> Interval:
    if isinstance(record, Interval):
        return record
    if not 3 <= len(record) <= 5:
        raise ValueError(f"a record is (row, start, end[, kind[, text]]), got {record!r}")
    row, start, end, *rest = record
    if end < start:
        raise ValueError(f"record {record!r} ends before it starts")
    return Interval(str(row), float(start), float(end), *(str(x) for x in rest))


def interval_timeline(
    records: Iterable[Record],
    *,
    title: Optional[str] = None,
    xlabel: Optional[str] = None,
    origin: Optional[float] = None,
    colors: Optional[dict[str, str]] = None,
) -> Figure:
    """Draw *records* as horizontal bars, a row per distinct row name.

    Bars of the same *kind* share a colour (given in *colors*, else from
    `PALETTE`); a legend lists the kinds when there is more than one unnamed
    colour.  Each bar has the gid ``"bar:<row>:<index>"``.
    """
    items = [_as_interval(r) for r in records]
    zero = origin if origin is not None else min((i.start for i in items), default=0.0)
    rows: dict[str, int] = {}
    for item in items:
        rows.setdefault(item.row, len(rows))
    shown = {name: y for name, y in rows.items() if y < MAX_ROWS}
    kinds = list(dict.fromkeys(i.kind for i in items))
    palette = dict(colors or {})
    for kind in kinds:
        palette.setdefault(kind, PALETTE[len([k for k in palette if k in kinds]) % len(PALETTE)])
    with plot_style():
        fig = course_figure(figsize=(9, 1.4 + 0.4 * max(1, len(shown))))
        ax = fig.add_subplot()
        span = max((i.end - zero for i in items), default=1.0) or 1.0
        for index, item in enumerate(items):
            if item.row not in shown:
                continue
            y = shown[item.row]
            color = palette[item.kind]
            ax.barh(y, item.end - item.start, left=item.start - zero, height=0.6, color=color,
                    edgecolor="white", linewidth=1, gid=f"bar:{item.row}:{index}")
            if item.text and (item.end - item.start) > 0.04 * span:
                ax.text((item.start + item.end) / 2 - zero, y, item.text, ha="center",
                        va="center", fontsize=8, color="white", clip_on=True)
        ax.set_yticks(list(shown.values()))
        ax.set_yticklabels([name for name in shown], fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(left=min(0.0, *(i.start - zero for i in items)) if items else 0.0)
        ax.set_xlabel(xlabel or tr("时间（秒）"))
        ax.set_title(title if title else tr("时间线"))
        ax.grid(axis="x", alpha=0.3)
        named = [k for k in kinds if k]
        if named:
            handles = [Patch(color=palette[k], label=k) for k in named]
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
        if len(rows) > len(shown):
            ax.text(0.0, -0.15, tr("只显示前 {shown} 行（共 {total} 行）", shown=len(shown), total=len(rows)),
                    transform=ax.transAxes, fontsize=8, color="#555555", va="top", gid="note")
        fig.tight_layout()
    return fig
