"""Views of the event streams: timeline plots, graphs and dashboards.

Views only read events (or read-only snapshots); they never change the core.
"""

from .._jupyter import show_figures_inline
from .charts import backoff_plot, counts_plot, latency_plot
from .dag import dag_plot
from .agents import agent_report, agent_timeline, describe_event
from .dashboard import AgentDashboard, SchedulerDashboard
from .fonts import course_figure, plot_style
from .intervals import Interval, interval_timeline
from .timeline import scheduler_timeline
from .report import StatsTable, stats_table, text_report
from .tracks import Span, TaskTrack, build_tracks

__all__ = [
    "AgentDashboard", "Interval", "SchedulerDashboard", "Span", "TaskTrack", "agent_report",
    "agent_timeline", "backoff_plot", "build_tracks", "counts_plot", "course_figure", "dag_plot",
    "describe_event", "interval_timeline", "latency_plot", "plot_style", "scheduler_timeline",
    "StatsTable", "stats_table", "text_report",
]

show_figures_inline()
