"""Live dashboard of a scheduler run: ipywidgets in Jupyter, text elsewhere.

Example use::

    await scheduler.run(monitor=True)            # the usual way

    dashboard = SchedulerDashboard(scheduler)    # by hand
    dashboard.open()
    await scheduler.run()
    dashboard.close()

The dashboard subscribes to the scheduler's events and redraws at most about
ten times per second (real time); each widget's state is sent in one message
(``hold_sync``).  It never prints from a callback: widgets update in place,
the Jupyter text fallback updates its own display (``display_id``), and in a
plain terminal the text report is printed once, by `close`.
"""

from __future__ import annotations

import asyncio
import html
import time
from typing import Any, Optional

from .._jupyter import ipython_shell, widgets_available
from ..scheduler.task import TaskStatus
from .report import text_report
from .timeline import OUTCOME_COLORS
from .tracks import build_tracks

__all__ = ["SchedulerDashboard"]

STATUS_COLORS = {
    TaskStatus.PENDING: "#9e9e9e",
    TaskStatus.WAITING: "#bdbdbd",
    TaskStatus.RUNNING: OUTCOME_COLORS[None],
    TaskStatus.COMPLETED: OUTCOME_COLORS[TaskStatus.COMPLETED],
    TaskStatus.FAILED: OUTCOME_COLORS[TaskStatus.FAILED],
    TaskStatus.TIMEOUT: OUTCOME_COLORS[TaskStatus.TIMEOUT],
    TaskStatus.CANCELLED: OUTCOME_COLORS[TaskStatus.CANCELLED],
}
MAX_TABLE_ROWS = 30


class SchedulerDashboard:
    """Progress, status counts, a coloured task table and throughput, kept live.

    ``mode`` is "widget", "text" or "auto" (widgets when a Jupyter kernel
    with ipywidgets is running, text otherwise).
    """

    def __init__(self, scheduler: Any, *, mode: str = "auto", min_interval: float = 0.1) -> None:
        if mode not in ("auto", "widget", "text"):
            raise ValueError(f"mode must be 'auto', 'widget' or 'text', got {mode!r}")
        self.scheduler = scheduler
        self.mode = ("widget" if widgets_available() else "text") if mode == "auto" else mode
        self.min_interval = min_interval
        self.renders = 0
        self.widget: Any = None
        self._unsubscribe: Optional[Any] = None
        self._last = float("-inf")
        self._pending: Optional[asyncio.TimerHandle] = None
        self._handle: Any = None  # IPython display handle of the text fallback
        if self.mode == "widget":
            self._build_widgets()

    # -------------------------------------------------------------- lifecycle

    def open(self) -> SchedulerDashboard:
        """Show the dashboard and start following the scheduler's events."""
        shell = ipython_shell()
        if shell is not None:
            from IPython.display import Pretty, display

            if self.mode == "widget":
                display(self.widget)
            else:
                self._handle = display(Pretty(text_report(self.scheduler)), display_id=True)
        self._unsubscribe = self.scheduler.subscribe(self._on_event)
        self.render()
        return self

    def close(self) -> None:
        """Stop following events; draw the final state and a summary."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self.render(final=True)
        if self.mode == "text" and self._handle is None:
            print(text_report(self.scheduler))

    # -------------------------------------------------------------- updates

    def _on_event(self, _event: Any) -> None:
        wait = self._last + self.min_interval - time.monotonic()
        if wait <= 0:
            self.render()
        elif self._pending is None:  # draw the latest state once the interval is over
            self._pending = asyncio.get_running_loop().call_later(wait, self._trailing)

    def _trailing(self) -> None:
        self._pending = None
        # On the virtual clock this timer fires after virtual, not real, time:
        # skip it then; the next event or close() draws the latest state.
        if time.monotonic() - self._last >= self.min_interval:
            self.render()

    def render(self, final: bool = False) -> None:
        """Redraw now (normally called for you, throttled)."""
        self._last = time.monotonic()
        self.renders += 1
        if self.mode == "widget":
            self._render_widgets(final)
        elif self._handle is not None:
            from IPython.display import Pretty

            self._handle.update(Pretty(text_report(self.scheduler)))

    def _build_widgets(self) -> None:
        import ipywidgets as w

        self.title = w.HTML("<b>SmartScheduler</b>")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="0/0",
                                      bar_style="info", layout=w.Layout(width="60%"))
        self.counts = w.HTML()
        self.live = w.HTML()
        self.table = w.HTML()
        self.summary = w.HTML()
        self.widget = w.VBox([self.title, self.progress, self.counts, self.live,
                              self.table, self.summary])

    def _render_widgets(self, final: bool) -> None:
        stats = self.scheduler.get_stats()
        total = stats["total"]
        done = total - stats["running"] - stats["queued"]
        with self.progress.hold_sync():
            self.progress.max = max(total, 1)
            self.progress.value = done
            self.progress.description = f"{done}/{total}"
            self.progress.bar_style = "success" if final and not stats["failed"] else (
                "danger" if final else "info")
        self.counts.value = " ".join(
            _badge(status, stats["status"][status.value]) for status in TaskStatus)
        tracks = build_tracks(self.scheduler.event_log or ())
        running = [tid for tid, t in tracks.items() if t.status is TaskStatus.RUNNING]
        self.live.value = (
            f"running: {html.escape(', '.join(running)) or '-'} | queued: {stats['queued']}"
            f" | throughput: {stats['throughput']:.2f} tasks/s"
        )
        self.table.value = _table(tracks)
        if final:
            durations = stats["durations"]
            self.summary.value = (
                f"<b>done</b> in {stats['elapsed']:.2f} s: {stats['completed']} completed, "
                f"{stats['failed']} failed, {stats['cancelled']} cancelled, "
                f"{stats['retries']} retries; success rate {stats['success_rate']:.0%}; "
                f"duration p50 {durations['p50']:.2f} s, p90 {durations['p90']:.2f} s"
            )


def _badge(status: TaskStatus, count: int) -> str:
    return (f'<span style="background:{STATUS_COLORS[status]};color:white;padding:1px 6px;'
            f'border-radius:4px;margin-right:4px">{status.value} {count}</span>')


def _table(tracks: dict) -> str:
    rows = []
    for track in list(tracks.values())[:MAX_TABLE_ROWS]:
        color = STATUS_COLORS[track.status]
        end = "" if track.ended is None else f"{track.ended:.2f}"
        rows.append(
            f"<tr><td>{html.escape(track.id)}</td><td>{'' if track.priority is None else track.priority}</td>"
            f'<td style="color:{color};font-weight:bold">{track.status.value}</td>'
            f"<td>{len(track.runs)}</td><td>{end}</td></tr>"
        )
    more = len(tracks) - MAX_TABLE_ROWS
    tail = f"<tr><td colspan=5>… {more} more</td></tr>" if more > 0 else ""
    return ("<table><tr><th>task</th><th>priority</th><th>status</th><th>attempts</th>"
            f"<th>ended</th></tr>{''.join(rows)}{tail}</table>")
