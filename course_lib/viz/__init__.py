"""Views of the event streams: timeline plots, graphs and dashboards.

Views only read events (or read-only snapshots); they never change the core.
"""

from .._jupyter import show_figures_inline
from .charts import backoff_plot, counts_plot, latency_plot
from .dag import dag_plot
from .agents import agent_report, agent_timeline
from .dashboard import AgentDashboard, SchedulerDashboard
from .fonts import cjk_font
from .intervals import Interval, interval_timeline
from .timeline import scheduler_timeline
from .report import text_report
from .tracks import Span, TaskTrack, build_tracks

__all__ = [
    "AgentDashboard", "Interval", "SchedulerDashboard", "Span", "TaskTrack", "agent_report",
    "agent_timeline", "backoff_plot", "build_tracks", "cjk_font", "counts_plot", "dag_plot",
    "interval_timeline", "latency_plot", "scheduler_timeline", "text_report",
]

show_figures_inline()
