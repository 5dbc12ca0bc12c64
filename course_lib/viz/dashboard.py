"""Live dashboards of a scheduler or a coordinator: ipywidgets in Jupyter, text elsewhere.

Example use::

    await scheduler.run(monitor=True)            # the usual way

    dashboard = SchedulerDashboard(scheduler)    # by hand
    dashboard.open()
    await scheduler.run()
    dashboard.close()

    board = coordinator.dashboard()              # agents: load, status, queue, last events
    ...
    board.close()

A dashboard subscribes to its source's events and redraws at most about
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

from .._jupyter import WidgetDisplay, ipython_shell, widgets_available
from ..agents.types import AgentStatus
from ..i18n import say, tr
from ..scheduler.task import TaskStatus
from .agents import agent_report, describe_event, queue_summary
from .report import text_report
from .timeline import OUTCOME_COLORS
from .tracks import build_tracks

__all__ = ["AgentDashboard", "LiveView", "SchedulerDashboard"]

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
AGENT_COLORS = {"idle": "#2ca02c", "busy": "#1f77b4", "offline": "#d62728"}


class LiveView:
    """A view fed by a source's events (``subscribe``) and redrawn, throttled.

    Subclasses build their widgets in ``_build_widgets``, fill them in
    ``_draw_widgets(final)`` and give the text version in ``_text()``.
    ``mode`` is "widget", "text" or "auto" (widgets when a Jupyter kernel
    with ipywidgets is running, text otherwise).
    """

    def __init__(self, source: Any, *, mode: str = "auto", min_interval: float = 0.1) -> None:
        if mode not in ("auto", "widget", "text"):
            raise ValueError(f"mode must be 'auto', 'widget' or 'text', got {mode!r}")
        self.source = source
        self.mode = ("widget" if widgets_available() else "text") if mode == "auto" else mode
        self.min_interval = min_interval
        self.renders = 0
        self.widget: Any = None
        self._unsubscribe: Optional[Any] = None
        self._last = float("-inf")
        self._pending: Optional[asyncio.TimerHandle] = None
        self._handle: Any = None  # IPython display handle of the text fallback
        self._display: Optional[WidgetDisplay] = None  # the widget's, with its text version
        if self.mode == "widget":
            self._build_widgets()

    def open(self) -> LiveView:
        """Show the view and start following the source's events."""
        if ipython_shell() is not None:
            from IPython.display import Pretty, display

            if self.mode == "widget":
                self._display = WidgetDisplay(self.widget, self._text())
            else:
                self._handle = display(Pretty(self._text()), display_id=True)
        self._unsubscribe = self.source.subscribe(self._on_event)
        self.render()
        return self

    def close(self) -> None:
        """Stop following events; draw the final state."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self.render(final=True)
        if self._display is not None:
            self._display.update(self._text())
        if self.mode == "text" and self._handle is None:
            print(self._text())

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
            self._draw_widgets(final)
        elif self._handle is not None:
            from IPython.display import Pretty

            self._handle.update(Pretty(self._text()))

    def _build_widgets(self) -> None:
        raise NotImplementedError

    def _draw_widgets(self, final: bool) -> None:
        raise NotImplementedError

    def _text(self) -> str:
        raise NotImplementedError


class SchedulerDashboard(LiveView):
    """Progress, status counts, a coloured task table and throughput of a `SmartScheduler`."""

    def __init__(self, scheduler: Any, *, mode: str = "auto", min_interval: float = 0.1) -> None:
        self.scheduler = scheduler
        super().__init__(scheduler, mode=mode, min_interval=min_interval)

    def _text(self) -> str:
        return text_report(self.scheduler)

    def _build_widgets(self) -> None:
        import ipywidgets as w

        self.title = w.HTML(tr("<b>调度器仪表盘</b>（SmartScheduler）"))
        self.progress = w.IntProgress(value=0, min=0, max=1, description="0/0",
                                      bar_style="info", layout=w.Layout(width="60%"))
        self.counts = w.HTML()
        self.live = w.HTML()
        self.table = w.HTML()
        self.summary = w.HTML()
        self.widget = w.VBox([self.title, self.progress, self.counts, self.live,
                              self.table, self.summary])

    def _draw_widgets(self, final: bool) -> None:
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
        log = self.scheduler.event_log or ()
        tracks = build_tracks(log)
        running = [tid for tid, t in tracks.items() if t.status is TaskStatus.RUNNING]
        self.live.value = html.escape(tr(
            "正在运行：{running} | 排队 {queued} | 吞吐量 {throughput:.2f} 个任务/秒",
            running="、".join(running) or "-", queued=stats["queued"], throughput=stats["throughput"]))
        self.table.value = _table(tracks, origin=log[0].time if log else 0.0)
        if final:
            durations = stats["durations"]
            self.summary.value = tr(
                "<b>结束</b>：用时 {elapsed:.2f} 秒；完成 {completed}，失败 {failed}，取消 {cancelled}，"
                "重试 {retries} 次；成功率 {rate:.0%}；耗时 p50 {p50:.2f} 秒，p90 {p90:.2f} 秒",
                elapsed=stats["elapsed"], completed=stats["completed"], failed=stats["failed"],
                cancelled=stats["cancelled"], retries=stats["retries"], rate=stats["success_rate"],
                p50=durations["p50"], p90=durations["p90"])


class AgentDashboard(LiveView):
    """A load bar and online/offline state per agent, the queue and the last events."""

    def __init__(self, coordinator: Any, *, mode: str = "auto", min_interval: float = 0.1,
                 last_events: int = 6) -> None:
        self.coordinator = coordinator
        self.last_events = last_events
        super().__init__(coordinator, mode=mode, min_interval=min_interval)

    def _text(self) -> str:
        return agent_report(self.coordinator, last_events=self.last_events)

    def _build_widgets(self) -> None:
        import ipywidgets as w

        self.title = w.HTML(tr("<b>Agent 仪表盘</b>（Coordinator）"))
        self.lanes = w.VBox()
        self.bars: dict[str, Any] = {}
        self.queue = w.HTML()
        self.recent = w.HTML()
        self.widget = w.VBox([self.title, self.lanes, self.queue, self.recent])

    def _draw_widgets(self, final: bool) -> None:
        import ipywidgets as w

        stats = self.coordinator.get_stats()
        for agent_id, agent in stats["agents"].items():
            if agent_id not in self.bars:
                bar = w.IntProgress(min=0, max=max(agent["capacity"], 1), layout=w.Layout(width="40%"))
                self.bars[agent_id] = (w.HTML(), bar)
                self.lanes.children = [w.HBox(pair) for pair in self.bars.values()]
            name, bar = self.bars[agent_id]
            with bar.hold_sync():
                bar.max = max(agent["capacity"], 1)
                bar.value = agent["in_flight"]
                bar.bar_style = "danger" if agent["status"] == "offline" else "success"
            color = AGENT_COLORS.get(agent["status"], "#7f7f7f")
            name.value = (f'<span style="display:inline-block;width:9em">{html.escape(agent_id)}</span>'
                          f'<span style="color:{color};font-weight:bold">'
                          f'{say(AgentStatus(agent["status"]))}</span> '
                          + tr("{in_flight}/{capacity} · 完成 {completed}", in_flight=agent["in_flight"],
                               capacity=agent["capacity"], completed=agent["completed"]))
        self.queue.value = html.escape(queue_summary(stats))
        log = list(self.coordinator.event_log or ())
        origin = log[0].time if log else 0.0
        self.recent.value = "<br>".join(html.escape(describe_event(ev, start=origin))
                                        for ev in log[max(0, len(log) - self.last_events):])


def _badge(status: TaskStatus, count: int) -> str:
    return (f'<span style="background:{STATUS_COLORS[status]};color:white;padding:1px 6px;'
            f'border-radius:4px;margin-right:4px">{say(status)} {count}</span>')


def _table(tracks: dict, origin: float) -> str:
    """An HTML table of the tasks; end times count from *origin* (the first event)."""
    rows = []
    for track in list(tracks.values())[:MAX_TABLE_ROWS]:
        color = STATUS_COLORS[track.status]
        end = "" if track.ended is None else f"{track.ended - origin:.2f}"
        rows.append(
            f"<tr><td>{html.escape(track.id)}</td><td>{'' if track.priority is None else track.priority}</td>"
            f'<td style="color:{color};font-weight:bold">{say(track.status)}</td>'
            f"<td>{len(track.runs)}</td><td>{end}</td></tr>"
        )
    more = len(tracks) - MAX_TABLE_ROWS
    tail = f"<tr><td colspan=5>{tr('…… 还有 {n} 个任务', n=more)}</td></tr>" if more > 0 else ""
    header = "".join(f"<th>{name}</th>" for name in (tr("任务"), tr("优先级"), tr("状态"), tr("尝试"),
                                                       tr("结束于（秒）")))
    return f"<table><tr>{header}</tr>{''.join(rows)}{tail}</table>"
