"""Plain-text view of a scheduler: a progress line and a compact task table.

Serves terminals and kernels without a widget front end (nbval runs, for
instance) with the same information as the dashboard.
"""

from __future__ import annotations

from typing import Any

from ..scheduler.progress import format_progress
from .tracks import build_tracks

__all__ = ["text_report"]

MAX_TABLE_ROWS = 20


def text_report(scheduler: Any, *, max_rows: int = MAX_TABLE_ROWS) -> str:
    """The progress line, then one row per task (at most *max_rows*), then throughput."""
    stats = scheduler.get_stats()
    tracks = build_tracks(scheduler.event_log or ())
    lines = [format_progress(stats)]
    width = max([4, *(len(t) for t in list(tracks)[:max_rows])])
    lines.append(f"{'task':<{width}}  prio  {'status':<9}  tries   start     end")
    for track in list(tracks.values())[:max_rows]:
        runs = track.runs
        start = f"{runs[0].start:7.2f}" if runs else "      -"
        end = f"{track.ended:7.2f}" if track.ended is not None else "      -"
        prio = "-" if track.priority is None else f"{track.priority:g}"
        lines.append(f"{track.id:<{width}}  {prio:>4}  {track.status.value:<9}  {len(runs):>5} {start} {end}")
    if len(tracks) > max_rows:
        lines.append(f"... {len(tracks) - max_rows} more tasks")
    lines.append(
        f"elapsed {stats['elapsed']:.2f} s | throughput {stats['throughput']:.2f} tasks/s"
        f" | success rate {stats['success_rate']:.0%} | retries {stats['retries']}"
    )
    return "\n".join(lines)

