"""Views of the event streams: timeline plots, graphs and dashboards.

Views only read events (or read-only snapshots); they never change the core.
"""

from .dag import dag_plot
from .fonts import cjk_font
from .timeline import scheduler_timeline
from .tracks import Span, TaskTrack, build_tracks

__all__ = ["Span", "TaskTrack", "build_tracks", "cjk_font", "dag_plot", "scheduler_timeline"]
