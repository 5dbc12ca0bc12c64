"""Plain-text views: a scheduler's progress and task table, a stats snapshot.

Serves terminals and kernels without a widget front end (nbval runs, for
instance) with the same information as the dashboard.  Times count from the
run's first event.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from .._catalog import NAMES
from ..i18n import get_language, say, tr
from ..scheduler.progress import format_progress
from .tracks import build_tracks

__all__ = ["StatsTable", "aligned", "stats_table", "text_report"]

MAX_TABLE_ROWS = 20


def text_report(scheduler: Any, *, max_rows: int = MAX_TABLE_ROWS) -> str:
    """The progress line, then one row per task (at most *max_rows*), then throughput."""
    stats = scheduler.get_stats()
    log = scheduler.event_log or ()
    origin = log[0].time if log else 0.0
    tracks = build_tracks(log)
    shown = list(tracks.values())[:max_rows]
    table = [[tr("任务"), tr("优先级"), tr("状态"), tr("尝试"), tr("开始"), tr("结束")]]
    for track in shown:
        runs = track.runs
        table.append([
            track.id,
            "-" if track.priority is None else f"{track.priority:g}",
            say(track.status),
            str(len(runs)),
            f"{runs[0].start - origin:.2f}" if runs else "-",
            f"{track.ended - origin:.2f}" if track.ended is not None else "-",
        ])
    lines = [format_progress(stats), *aligned(table)]
    if len(tracks) > max_rows:
        lines.append(tr("…… 还有 {n} 个任务", n=len(tracks) - max_rows))
    lines.append(tr("用时 {elapsed:.2f} 秒 | 吞吐量 {throughput:.2f} 个任务/秒 | 成功率 {rate:.0%}"
                    " | 重试 {retries} 次", elapsed=stats["elapsed"], throughput=stats["throughput"],
                    rate=stats["success_rate"], retries=stats["retries"]))
    return "\n".join(lines)


class StatsTable:
    """A `get_stats` snapshot as a table: each key, what it means, its value rounded for reading.

    Shown as an HTML table in a notebook, as aligned text by ``print`` or ``str``.
    """

    def __init__(self, rows: list[list[str]]) -> None:
        self.rows = rows  # the header, then one row per key

    def __str__(self) -> str:
        return "\n".join(aligned(self.rows))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head, *body = self.rows
        cells = "".join(f"<th>{html.escape(c)}</th>" for c in head)
        lines = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                        for row in body)
        return f"<table><thead><tr>{cells}</tr></thead><tbody>{lines}</tbody></table>"


def stats_table(stats: Mapping[str, Any], keys: Optional[Iterable[str]] = None) -> StatsTable:
    """A `get_stats` snapshot (scheduler, coordinator or one agent) as a `StatsTable`.

    *keys* picks and orders the rows (all by default); a nested dict
    (``durations``, ``status``, ...) gets one row per entry.
    """
    meanings = _meanings(stats)
    rows = [[tr("键"), tr("意思"), tr("值")]]
    for key in stats if keys is None else keys:
        value = stats[key]
        entries = value.items() if isinstance(value, Mapping) else [(None, value)]
        for sub, item in entries:
            name = key if sub is None else f"{key}.{sub}"
            meaning = meanings.get(key, "") if sub is None else meanings.get(f"{key}.", "")
            rows.append([name, meaning.format(sub=sub), _value(key, item)])
    return StatsTable(rows)


def _value(key: str, value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if key == "status" and isinstance(value, str) and value in NAMES and get_language() == "zh":
        return f"{value}（{NAMES[value]}）"
    return str(value)


def _meanings(stats: Mapping[str, Any]) -> dict[str, str]:
    """What each key of *stats* means; "key." is the row of a nested entry ({sub})."""
    scheduler = isinstance(stats.get("status"), Mapping)  # a scheduler's failed counts timeouts
    return {
        "total": tr("任务总数"),
        "completed": tr("已完成"),
        "failed": tr("失败的任务数（含超时）") if scheduler else tr("失败的任务数"),
        "cancelled": tr("已取消"),
        "running": tr("正在运行"),
        "queued": tr("排队中"),
        "retries": tr("重试次数"),
        "retried": tr("重试次数"),
        "reassigned": tr("转交次数（Agent 离线）"),
        "ignored": tr("丢弃的迟到或重复消息"),
        "success_rate": tr("成功率（完成 ÷ 已结束）"),
        "progress": tr("进度（已结束 ÷ 总数）"),
        "elapsed": tr("用时（秒）"),
        "throughput": tr("吞吐量（每秒完成的任务数）"),
        "status.": tr("处于 {sub} 状态的任务数"),
        "durations.": tr("任务耗时的 {sub}（秒）"),
        "latency.": tr("任务耗时的 {sub}（秒）"),
        "agents.": tr("Agent {sub} 的统计"),
        "status": tr("状态"),
        "capacity": tr("同时能做几个任务"),
        "in_flight": tr("手上的任务数"),
        "avg_latency": tr("平均每个任务的耗时（秒）"),
    }


def aligned(rows: list[list[str]]) -> list[str]:
    """Columns padded to the widest cell (CJK characters count as two columns)."""
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell + " " * (width - _width(cell)) for cell, width in zip(row, widths)).rstrip()
            for row in rows]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
