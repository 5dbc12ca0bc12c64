"""Generic interval timeline and the retry/latency charts, checked on their artists."""

import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from course_lib.viz import Interval, backoff_plot, interval_timeline, latency_plot
from course_lib.scheduler.stats import percentiles


def _bars(fig):
    return {p.get_gid(): p for p in fig.axes[0].patches if (p.get_gid() or "").startswith("bar:")}


def test_one_bar_per_record_shifted_to_start_at_zero():
    fig = interval_timeline([("a", 10.0, 11.0), ("b", 10.5, 12.0, "CPU"), ("a", 11.0, 11.5)])
    assert isinstance(fig, Figure)
    bars = _bars(fig)
    assert set(bars) == {"bar:a:0", "bar:b:1", "bar:a:2"}
    assert bars["bar:b:1"].get_x() == pytest.approx(0.5)
    assert bars["bar:b:1"].get_width() == pytest.approx(1.5)
    assert bars["bar:a:0"].get_y() == bars["bar:a:2"].get_y() != bars["bar:b:1"].get_y()


def test_kinds_share_colours_and_get_a_legend():
    fig = interval_timeline([Interval("w1", 0, 1, "I/O"), Interval("w2", 0, 1, "CPU"),
                             Interval("w1", 1, 2, "I/O", "job")], colors={"CPU": "#000000"})
    bars = _bars(fig)
    assert to_hex(bars["bar:w2:1"].get_facecolor()) == "#000000"
    assert bars["bar:w1:0"].get_facecolor() == bars["bar:w1:2"].get_facecolor()
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["I/O", "CPU"]


def test_bad_records_and_empty_input():
    with pytest.raises(ValueError):
        interval_timeline([("a", 1)])
    with pytest.raises(ValueError):
        interval_timeline([("a", 2, 1)])
    assert isinstance(interval_timeline([]), Figure)


def test_many_rows_are_cut_with_a_note():
    fig = interval_timeline([(f"r{i}", i, i + 1) for i in range(50)])
    assert len(_bars(fig)) == 40
    assert any(t.get_gid() == "note" for t in fig.axes[0].texts)


def test_backoff_plot_draws_delays_and_cumulative_moments():
    fig = backoff_plot({"plain": [1, 2, 4], "jitter": [0.8, 2.5, 3.1]})
    left, right = fig.axes
    lines = {l.get_gid(): l for l in left.lines}
    assert list(lines["delay:plain"].get_ydata()) == [1, 2, 4]
    moments = {l.get_gid(): l for l in right.lines}
    assert list(moments["moments:plain"].get_xdata()) == [1, 3, 7]
    with pytest.raises(ValueError):
        backoff_plot({})


def test_latency_plot_marks_the_percentiles_and_error_rate():
    values = [0.1 * i for i in range(1, 11)]
    fig = latency_plot(values, errors=2)
    ax = fig.axes[0]
    lines = {l.get_gid(): l for l in ax.lines}
    assert lines["line:p90"].get_xdata()[0] == pytest.approx(percentiles(values)["p90"])
    assert "16.7%" in ax.get_title()
    assert isinstance(latency_plot([]), Figure)


def test_counts_plot_draws_one_bar_per_group_and_member():
    from course_lib.viz import counts_plot

    fig = counts_plot({"round_robin": {"a": 5, "b": 5}, "random": {"a": 7, "b": 3}})
    bars = {p.get_gid(): p.get_height() for p in fig.axes[0].patches}
    assert bars == {"count:round_robin:a": 5, "count:round_robin:b": 5,
                    "count:random:a": 7, "count:random:b": 3}
