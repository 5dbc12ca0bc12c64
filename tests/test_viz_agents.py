"""Agent timeline and dashboard, from the recorded events of a virtual-clock run."""

from types import SimpleNamespace

from matplotlib.colors import to_hex

from course_lib import run_virtual
from course_lib.demos import agents_demo
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


def test_text_report_is_exact_and_chinese_by_default():
    report = agent_report(COORDINATOR, last_events=2).splitlines()
    assert report[:5] == [
        "排队 0 | 运行中 0 | 完成 4 | 失败 0 | 转交 1 | 吞吐量 0.80 个任务/秒",
        "Agent     状态  负载              完成  失败  平均耗时",
        "search-1  离线  [..........] 0/1  0     0     0.00 秒",
        "search-2  离线  [..........] 0/1  3     1     0.75 秒",  # the demo has ended
        "calc-1    离线  [..........] 0/1  1     0     0.50 秒",
    ]
    # The last events, one line each (same-time heartbeats may come in either order).
    assert report[5:] == ["  " + describe_event(e) for e in EVENTS[-2:]]


def test_text_report_in_english(english):
    report = agent_report(COORDINATOR, last_events=0).splitlines()
    assert report == [
        "queued 0 | running 0 | completed 4 | failed 0 | reassigned 1 | throughput 0.80 tasks/s",
        "agent     status   load              completed  failed  avg",
        "search-1  offline  [..........] 0/1  0          0       0.00 s",
        "search-2  offline  [..........] 0/1  3          1       0.75 s",
        "calc-1    offline  [..........] 0/1  1          0       0.50 s",
    ]


def test_event_lines_say_why_a_task_moved():
    moved = [describe_event(e) for e in EVENTS if e.task_id == "task-1" and e.new.value == "queued"
             and e.old is not None]
    assert moved == ["t=3.00 task-1：运行中 → 排队，在 search-1 上（第 1 次尝试）：search-1 掉线了"]
    offline = [describe_event(e) for e in EVENTS if e.kind.value == "agent" and e.new.value == "offline"]
    assert offline == ["t=3.00 Agent search-1 → 离线（3 秒没有心跳）",
                       "t=5.00 Agent search-2 → 离线（协调器已停止）",
                       "t=5.00 Agent calc-1 → 离线（协调器已停止）"]


def test_event_lines_in_english(english):
    moved = [describe_event(e) for e in EVENTS if e.task_id == "task-1" and e.new.value == "queued"
             and e.old is not None]
    assert moved == ["t=3.00 task-1 running -> queued on search-1 (attempt 1): agent search-1 went offline"]


def test_event_times_count_from_the_given_start():
    late = [e._replace(time=e.time + 818.0) for e in EVENTS]
    assert [describe_event(e, start=818.0) for e in late] == [describe_event(e) for e in EVENTS]


def test_agent_dashboard_widget_state():
    board = AgentDashboard(COORDINATOR, mode="widget")
    board.open()
    board.close()
    assert list(board.bars) == ["search-1", "search-2", "calc-1"]
    name, bar = board.bars["search-1"]
    assert "离线" in name.value and bar.bar_style == "danger"
    assert "转交 1" in board.queue.value
    assert board.recent.value.count("<br>") == board.last_events - 1


def test_agent_dashboard_counts_time_from_the_first_event():
    late = [e._replace(time=e.time + 818.0) for e in EVENTS]  # a real loop's clock
    source = SimpleNamespace(event_log=late, get_stats=COORDINATOR.get_stats,
                             subscribe=lambda callback: (lambda: None))
    board = AgentDashboard(source, mode="widget", last_events=1)
    board.open()
    board.close()
    assert board.recent.value.startswith("t=5.00 ")
