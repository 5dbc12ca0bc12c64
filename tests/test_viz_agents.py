"""Agent timeline and dashboard, from the recorded events of a virtual-clock run."""

import io
import warnings

from matplotlib.colors import to_hex

from course_lib import run_virtual
from course_lib.demos import agents_demo
from course_lib.viz import fonts
from course_lib.viz.agents import (
    ATTEMPT_COLORS, agent_lanes, agent_report, agent_timeline, describe_event)
from course_lib.viz.dashboard import AgentDashboard

COORDINATOR = run_virtual(agents_demo())
EVENTS = list(COORDINATOR.event_log)


def _artists(fig, prefix):
    ax = fig.axes[0]
    found = [*ax.patches, *ax.lines, *ax.texts]
    return {a.get_gid(): a for a in found if (a.get_gid() or "").startswith(prefix)}


def test_lanes_know_crashes_offline_spells_and_reassignments():
    lanes, last = agent_lanes(EVENTS)
    assert list(lanes) == ["search-1", "search-2", "calc-1"]
    search_1 = lanes["search-1"]
    assert search_1.crashes == [0.5]
    assert search_1.offline == [[3.0, None]]
    (first,) = search_1.attempts
    assert (first.task_id, first.start, first.end, first.outcome) == ("task-1", 0.0, 3.0, "reassigned")
    moved = next(a for a in lanes["search-2"].attempts if a.task_id == "task-1")
    assert (moved.start, moved.from_agent, moved.outcome) == (3.0, "search-1", "completed")
    assert last == 5.0


def test_timeline_draws_attempts_heartbeats_crash_and_the_reassignment_arrow():
    fig = agent_timeline(EVENTS)
    bars = _artists(fig, "attempt:")
    first = bars["attempt:task-1:1"]
    assert (first.get_x(), first.get_width()) == (0.0, 3.0)
    assert to_hex(first.get_facecolor()) == ATTEMPT_COLORS["reassigned"]
    assert bars["attempt:task-1:2"].get_x() == 3.0
    assert to_hex(bars["attempt:task-1:2"].get_facecolor()) == ATTEMPT_COLORS["completed"]
    assert list(_artists(fig, "crash:")["crash:search-1"].get_xdata()) == [0.5]
    beats = [e.time for e in EVENTS if e.kind.value == "heartbeat" and e.agent_id == "search-2"]
    assert list(_artists(fig, "heartbeat:")["heartbeat:search-2"].get_xdata()) == beats
    arrows = _artists(fig, "reassign:")
    assert set(arrows) == {"reassign:task-1:search-1->search-2"}
    assert arrows["reassign:task-1:search-1->search-2"].xy == (3.0, 1)
    assert "offline:search-1" in _artists(fig, "offline:")


def test_text_report_is_exact():
    report = agent_report(COORDINATOR, last_events=2).splitlines()
    assert report[:4] == [
        "queued 0 | running 0 | completed 4 | failed 0 | reassigned 1 | throughput 0.80 tasks/s",
        "search-1  offline [..........] 0/1  done 0  failed 0  avg 0.00 s",
        "search-2  idle    [..........] 0/1  done 3  failed 1  avg 0.75 s",
        "calc-1    idle    [..........] 0/1  done 1  failed 0  avg 0.50 s",
    ]
    # The last events, one line each (same-time heartbeats may come in either order).
    assert report[4:] == ["  " + describe_event(e) for e in EVENTS[-2:]]


def test_event_lines_say_why_a_task_moved():
    moved = [describe_event(e) for e in EVENTS if e.task_id == "task-1" and e.new.value == "queued"
             and e.old is not None]
    assert moved == ["t=3.00 task-1 running -> queued on search-1 (attempt 1): agent search-1 went offline"]


def test_agent_dashboard_widget_state():
    board = AgentDashboard(COORDINATOR, mode="widget")
    board.open()
    board.close()
    assert list(board.bars) == ["search-1", "search-2", "calc-1"]
    name, bar = board.bars["search-1"]
    assert "offline" in name.value and bar.bar_style == "danger"
    assert "reassigned: 1" in board.queue.value
    assert board.recent.value.count("<br>") == board.last_events - 1


def test_no_missing_glyphs_without_a_cjk_font(monkeypatch):
    monkeypatch.setattr(fonts, "cjk_font", lambda: None)
    renamed = [e._replace(agent_id="搜索-1") if e.agent_id == "search-1" else e for e in EVENTS]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing")
        agent_timeline(renamed).savefig(io.BytesIO(), format="png")
