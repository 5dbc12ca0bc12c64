"""Scheduler plots, checked on their artists (never on pixels)."""

import asyncio

import pytest
from matplotlib.colors import to_hex

from course_lib import SmartScheduler, Task, TaskStatus, run_virtual
from course_lib.viz import build_tracks, dag_plot, scheduler_timeline
from course_lib.viz.timeline import OUTCOME_COLORS


async def _sleep(seconds, *_):
    await asyncio.sleep(seconds)
    return seconds


async def _flaky(*_):
    await asyncio.sleep(0.25)
    raise RuntimeError("flaky")


def _demo_events():
    async def main():
        s = SmartScheduler(max_workers=2)
        await s.add_task(Task(id="fetch", func=_sleep, args=(1.0,), priority=0))
        await s.add_task(Task(id="slow", func=_sleep, args=(2.0,), priority=0))
        await s.add_task(Task(id="flaky", func=_flaky, max_retries=1, retry_delay=0.5))
        await s.add_task(Task(id="parse", func=_sleep, args=(0.5,), dependencies=["fetch"]))
        await s.add_task(Task(id="report", func=_sleep, args=(0.2,), dependencies=["flaky", "parse"]))
        await s.run()
        return list(s.event_log)

    return run_virtual(main())


EVENTS = _demo_events()


def _bars(fig, prefix):
    ax = fig.axes[0]
    return {p.get_gid(): p for p in ax.patches if (p.get_gid() or "").startswith(prefix)}


def test_tracks_split_backoff_from_queueing():
    flaky = build_tracks(EVENTS)["flaky"]
    kinds = [(s.kind, s.start, s.end) for s in flaky.spans]
    assert kinds == [("queued", 0.0, 1.0), ("run", 1.0, 1.25), ("backoff", 1.25, 1.75),
                     ("run", 1.75, 2.0)]
    assert [s.outcome for s in flaky.runs] == [TaskStatus.FAILED, TaskStatus.FAILED]


def test_timeline_has_one_bar_per_attempt_at_the_event_times():
    fig = scheduler_timeline(EVENTS)
    runs = _bars(fig, "run:")
    assert set(runs) == {"run:fetch:1", "run:slow:1", "run:flaky:1", "run:flaky:2", "run:parse:1"}
    assert runs["run:flaky:2"].get_x() == 1.75
    assert runs["run:flaky:2"].get_width() == pytest.approx(0.25)
    assert runs["run:parse:1"].get_x() == 1.25
    assert to_hex(runs["run:fetch:1"].get_facecolor()) == OUTCOME_COLORS[TaskStatus.COMPLETED]
    assert to_hex(runs["run:flaky:1"].get_facecolor()) == OUTCOME_COLORS[TaskStatus.FAILED]
    # Queued time, waiting for dependencies and the backoff gap are drawn apart.
    assert "backoff:flaky" in _bars(fig, "backoff:")
    assert "waiting:parse" in _bars(fig, "waiting:")
    assert _bars(fig, "queued:")["queued:parse"].get_x() == 1.0


def test_timeline_shows_dependencies_priorities_and_cancelled_dependents():
    fig = scheduler_timeline(EVENTS)
    ax = fig.axes[0]
    arrows = {a.get_gid() for a in ax.texts if (a.get_gid() or "").startswith("dep:")}
    assert arrows == {"dep:fetch->parse", "dep:flaky->report", "dep:parse->report"}
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "fetch (p0)", "slow (p0)", "flaky (p1)", "parse (p1)", "report (p1)"]
    (marker,) = [line for line in ax.lines if line.get_gid() == "cancelled:report"]
    assert list(marker.get_xdata()) == [2.0]


def test_timeline_by_slot_puts_attempts_on_worker_rows():
    fig = scheduler_timeline(EVENTS, by="slot")
    runs = _bars(fig, "run:")
    assert len(runs) == 5
    assert {p.get_y() + p.get_height() / 2 for p in runs.values()} == {0, 1}


def _big_events(n=300):
    async def main():
        s = SmartScheduler(max_workers=4)
        for i in range(n):
            deps = [f"t{i - 1}"] if i % 3 else []
            await s.add_task(Task(id=f"t{i}", func=_sleep, args=(0.1 * (i % 5),), dependencies=deps))
        await s.run()
        return list(s.event_log)

    return run_virtual(main())


def test_large_runs_are_cut_down_and_say_so():
    events = _big_events()
    fig = scheduler_timeline(events, max_rows=40)
    ax = fig.axes[0]
    assert len(ax.get_yticks()) == 40
    assert any("只显示前 40 个任务（共 300 个）" in t.get_text() for t in ax.texts if t.get_gid() == "note")
    slot_fig = scheduler_timeline(events, by="slot")
    assert len(_bars(slot_fig, "run:")) == 300
    assert any(t.get_gid() == "note" for t in slot_fig.axes[0].texts)
    dag = dag_plot(events)
    assert any(t.get_gid() == "note" for t in dag.axes[0].texts)
    assert sum(p.get_height() for p in dag.axes[0].patches) == 300


def test_dag_layers_nodes_and_edges():
    fig = dag_plot(EVENTS)
    ax = fig.axes[0]
    nodes = {p.get_gid(): p for p in ax.patches if (p.get_gid() or "").startswith("node:")}
    assert set(nodes) == {"node:fetch", "node:slow", "node:flaky", "node:parse", "node:report"}
    assert nodes["node:fetch"].center[0] == 0 and nodes["node:parse"].center[0] == 2.0
    assert nodes["node:report"].center[0] == 4.0
    assert to_hex(nodes["node:report"].get_facecolor()) == OUTCOME_COLORS[TaskStatus.CANCELLED]
    edges = {t.get_gid() for t in ax.texts if (t.get_gid() or "").startswith("edge:")}
    assert edges == {"edge:fetch->parse", "edge:flaky->report", "edge:parse->report"}


def test_plots_are_deterministic_on_the_virtual_clock():
    again = _demo_events()
    assert again == EVENTS
    first = [(p.get_gid(), p.get_x(), p.get_width()) for p in scheduler_timeline(EVENTS).axes[0].patches]
    second = [(p.get_gid(), p.get_x(), p.get_width()) for p in scheduler_timeline(again).axes[0].patches]
    assert first == second


def test_a_real_loop_clock_is_measured_from_the_first_event():
    shifted = [e._replace(time=e.time + 10_000.0,
                          retry_at=None if e.retry_at is None else e.retry_at + 10_000.0)
               for e in EVENTS]
    original = {g: (p.get_x(), p.get_width()) for g, p in _bars(scheduler_timeline(EVENTS), "run:").items()}
    moved = {g: (p.get_x(), p.get_width()) for g, p in _bars(scheduler_timeline(shifted), "run:").items()}
    assert moved.keys() == original.keys()
    for gid, (x, width) in original.items():
        assert moved[gid] == (pytest.approx(x), pytest.approx(width))
