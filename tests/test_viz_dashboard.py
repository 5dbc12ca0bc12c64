"""The dashboard's widget state and the text fallback, after virtual-clock runs."""

import asyncio
import time
from types import SimpleNamespace

from course_lib import SmartScheduler, Task, run_virtual
from course_lib._jupyter import widgets_available
from course_lib.viz.dashboard import SchedulerDashboard
from course_lib.viz.report import stats_table, text_report


async def _work(seconds):
    await asyncio.sleep(seconds)
    return seconds


async def _broken():
    raise ValueError("broken")


async def _small_run(**run_kwargs):
    s = SmartScheduler(max_workers=2)
    await s.add_task(Task(id="a", func=_work, args=(1.0,), priority=0))
    await s.add_task(Task(id="b", func=_work, args=(0.5,), dependencies=["a"]))
    await s.add_task(Task(id="c", func=_broken, max_retries=1, retry_delay=0.25))
    await s.add_task(Task(id="d", func=_work, args=(0.5,), dependencies=["c"]))
    await s.run(**run_kwargs)
    return s


def test_text_fallback_is_exact_on_the_virtual_clock():
    assert text_report(run_virtual(_small_run())) == "\n".join([
        "[####################] 已结束 4/4 | 运行中 0 | 排队 0 | 完成 2 | 失败 1 | 取消 1",
        "任务  优先级  状态    尝试  开始  结束",
        "a     0       完成    1     0.00  1.00",
        "b     1       完成    1     1.00  1.50",
        "c     1       失败    2     0.00  0.25",
        "d     1       已取消  0     -     0.25",
        "用时 1.50 秒 | 吞吐量 1.33 个任务/秒 | 成功率 50% | 重试 1 次",
    ])


def test_text_fallback_in_english(english):
    assert text_report(run_virtual(_small_run())).splitlines()[:3] == [
        "[####################] 4/4 done | 0 running | 0 queued | 2 ok | 1 failed | 1 cancelled",
        "task  priority  status     tries  start  end",
        "a     0         completed  1      0.00   1.00",
    ]


def test_text_fallback_counts_time_from_the_first_event():
    scheduler = run_virtual(_small_run())
    late = SimpleNamespace(get_stats=scheduler.get_stats,
                           event_log=[e._replace(time=e.time + 818.0) for e in scheduler.event_log])
    assert text_report(late) == text_report(scheduler)


def test_monitor_text_prints_the_report_once_at_the_end(capsys):
    scheduler = run_virtual(_small_run(monitor="text"))
    out = capsys.readouterr().out
    assert out == text_report(scheduler) + "\n"


def test_widget_state_after_a_run():
    scheduler = run_virtual(_small_run())
    dashboard = SchedulerDashboard(scheduler, mode="widget")
    dashboard.open()
    dashboard.close()
    assert (dashboard.progress.value, dashboard.progress.max) == (4, 4)
    assert dashboard.progress.description == "4/4"
    assert dashboard.progress.bar_style == "danger"  # something failed
    for badge in ("完成 2", "失败 1", "已取消 1", "运行中 0"):
        assert badge in dashboard.counts.value
    table = dashboard.table.value
    assert table.count("<tr>") == 5  # header + 4 tasks
    assert 'color:#d62728;font-weight:bold">失败' in table
    assert "完成 2，失败 1，取消 1，重试 1 次" in dashboard.summary.value


def test_dashboard_follows_a_run_and_unsubscribes():
    async def main():
        s = SmartScheduler(max_workers=1)
        for i in range(20):
            await s.add_task(Task(id=f"t{i}", func=_work, args=(0.1,)))
        dashboard = SchedulerDashboard(s, mode="widget", min_interval=0.0)
        dashboard.open()
        await s.run()
        dashboard.close()
        return s, dashboard

    scheduler, dashboard = run_virtual(main())
    assert dashboard.renders > 20  # one per event with no throttling, plus open and close
    assert dashboard.progress.value == 20
    assert not scheduler._hub.listeners


def test_updates_are_throttled_in_real_time():
    async def main():
        s = SmartScheduler(max_workers=3)
        for i in range(200):
            await s.add_task(Task(id=f"t{i}", func=_work, args=(0.1,)))
        dashboard = SchedulerDashboard(s, mode="widget")  # default: at most ~10 per second
        started = time.monotonic()
        dashboard.open()
        await s.run()
        dashboard.close()
        return dashboard, time.monotonic() - started

    dashboard, real_seconds = run_virtual(main())
    assert dashboard.renders <= 3 + 10 * real_seconds  # 600 events, a handful of redraws
    assert dashboard.progress.value == 200


def test_auto_mode_is_text_outside_a_kernel():
    assert not widgets_available()
    assert SchedulerDashboard(SmartScheduler(), mode="auto").mode == "text"


def test_stats_table_explains_each_key_and_rounds_its_value():
    scheduler = run_virtual(_small_run())
    table = stats_table(scheduler.get_stats(), ["total", "failed", "elapsed", "durations"])
    assert str(table).splitlines()[:4] == [
        "键              意思                    值",
        "total           任务总数                4",
        "failed          失败的任务数（含超时）  1",
        "elapsed         用时（秒）              1.5",
    ]
    html = table._repr_html_()
    assert html.count("<tr>") == 1 + 3 + 5 and "<th>意思</th>" in html  # header, 3 keys, 5 durations
    agent = stats_table({"status": "idle", "completed": 2, "failed": 0})
    assert "idle（空闲）" in str(agent) and "失败的任务数  " in str(agent)
