"""Small charts: retry delays, latencies, and counts per group (e.g. tasks per agent).

Example use::

    from course_lib.viz import backoff_plot, latency_plot

    backoff_plot({"no jitter": [1, 2, 4], "client A": [0.9, 2.3, 3.6]})
    latency_plot([0.12, 0.2, 0.31, 1.4], errors=1)

Both return a ``matplotlib.figure.Figure`` and show nothing by themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Optional

from matplotlib.figure import Figure

from ..scheduler.stats import percentiles
from ..i18n import tr
from .fonts import course_figure, plot_style
from .intervals import PALETTE

__all__ = ["backoff_plot", "counts_plot", "latency_plot"]


def backoff_plot(delays: Mapping[str, Sequence[float]], *, title: Optional[str] = None) -> Figure:
    """Retry delays of several clients (or strategies): two panels.

    Left: the delay before retry 1, 2, 3, ...  Right: the moments the retries
    reach the server (the running sum of the delays, ignoring the attempts'
    own duration), one row per client, so bunched-up retries are easy to see.
    """
    if not delays:
        raise ValueError("give at least one series of delays")
    with plot_style():
        fig = course_figure(figsize=(11, 1.8 + 0.3 * len(delays)))
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
        for i, (name, series) in enumerate(delays.items()):
            color = PALETTE[i % len(PALETTE)]
            numbers = range(1, len(series) + 1)
            left.plot(list(numbers), list(series), marker="o", color=color, label=name,
                      gid=f"delay:{name}")
            moments = list(accumulate(series))
            right.plot(moments, [i] * len(moments), linestyle="none", marker="|", markersize=14,
                       markeredgewidth=2, color=color, gid=f"moments:{name}")
        left.set_xlabel(tr("第几次重试"))
        left.set_ylabel(tr("等待（秒）"))
        left.set_xticks(range(1, 1 + max(len(s) for s in delays.values())))
        left.grid(alpha=0.3)
        if len(delays) <= 10:
            left.legend(fontsize=8)
        right.set_yticks(range(len(delays)))
        right.set_yticklabels([n for n in delays], fontsize=8)
        right.invert_yaxis()
        right.set_xlabel(tr("重试到达服务器的时刻（秒）"))
        right.grid(axis="x", alpha=0.3)
        fig.suptitle(title if title else tr("指数退避的等待时间"))
        fig.tight_layout()
    return fig


def latency_plot(
    latencies: Sequence[float], *, errors: int = 0, bins: int = 30, title: Optional[str] = None
) -> Figure:
    """Histogram of request latencies (seconds) with p50/p90/p99 lines and the error rate."""
    stats = percentiles(latencies)
    total = len(latencies) + errors
    with plot_style():
        fig = course_figure(figsize=(9, 3.6))
        ax = fig.add_subplot()
        if latencies:
            ax.hist(list(latencies), bins=bins, color="#9ecae1", edgecolor="white", gid="hist")
        for (name, color) in (("p50", "#2ca02c"), ("p90", "#ff7f0e"), ("p99", "#d62728")):
            ax.axvline(stats[name], color=color, linestyle="--", gid=f"line:{name}",
                       label=tr("{name} = {value:.3f} 秒", name=name, value=stats[name]))
        ax.set_xlabel(tr("耗时（秒）"))
        ax.set_ylabel(tr("请求数"))
        rate = errors / total if total else 0.0
        ax.set_title(title or tr("{n} 个请求，错误率 {rate:.1%}", n=total, rate=rate))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
    return fig


def counts_plot(counts: Mapping[str, Mapping[str, int]], *, title: Optional[str] = None,
                ylabel: Optional[str] = None) -> Figure:
    """Grouped bars: one group per outer key (say, a balancing policy), one bar
    per inner key (say, an agent).  Bars carry ``gid`` ``"count:<group>:<bar>"``."""
    if not counts:
        raise ValueError("give at least one group of counts")
    members = list(dict.fromkeys(m for inner in counts.values() for m in inner))
    width = 0.8 / max(len(members), 1)
    with plot_style():
        fig = course_figure(figsize=(max(6, 1.6 * len(counts) + 2), 3.4))
        ax = fig.add_subplot()
        for j, member in enumerate(members):
            xs = [i + (j - (len(members) - 1) / 2) * width for i in range(len(counts))]
            for x, (group, inner) in zip(xs, counts.items()):
                ax.bar(x, inner.get(member, 0), width=width, color=PALETTE[j % len(PALETTE)],
                       label=member if x == xs[0] else None, gid=f"count:{group}:{member}")
        ax.set_xticks(range(len(counts)))
        ax.set_xticklabels([g for g in counts], fontsize=9)
        ax.set_ylabel(ylabel if ylabel else tr("数量"))
        ax.set_title(title if title else tr("各组数量"))
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        fig.tight_layout()
    return fig
