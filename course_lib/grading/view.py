"""Show a grading report in a notebook: a widget, or the text report without one."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from .._jupyter import WidgetDisplay, widgets_available
from .rubric import Report

__all__ = ["check_stage", "report_widget", "show_report"]


def check_stage(path: str | Path, criterion: str) -> None:
    """Grade one criterion of the learner's file, say whether the stage is done, show the report.

    The notebooks call it after each stage of a challenge: the verdict line
    comes first (✅ or ⏳ 还没完成), then the report with its reasons.
    """
    from .grader import grade_file

    try:
        report = grade_file(path, only=criterion)
    except (ValueError, OSError) as exc:  # no such file, not a challenge file: one line, no traceback
        print(f"⏳ 还没完成：评分器打不开这个练习文件（{exc}）")
        return
    (row,) = report.criteria
    if row.points == row.max:
        print(f"✅ 这一步完成了：{row.name} {row.points} / {row.max} 分")
    else:
        print(f"⏳ 还没完成：{row.name} {row.points} / {row.max} 分，看下面的原因和“下一步”")
    show_report(report)


def show_report(report: Report) -> None:
    """Display *report* as a widget in Jupyter, or print its text elsewhere."""
    if not widgets_available():
        print(report.text())
        return
    WidgetDisplay(report_widget(report), report.text())


def report_widget(report: Report) -> Any:
    """A total, then one collapsible section per criterion with its checks and reasons."""
    import ipywidgets as w

    sections, titles = [], []
    common = report.common_reason()
    for criterion in report.criteria:
        rows = []
        if criterion.points == 0 and criterion.todo:
            rows.append(f"<div><b>下一步：</b>{html.escape(criterion.todo)}</div>")
        for check, reason in zip(criterion.checks, report.reasons_to_show(criterion, common)):
            color = "#2ca02c" if check.passed else "#d62728"
            mark = "✔" if check.passed else "✘"
            why = f"<br><small>原因：{_pre(reason)}</small>" if reason else ""
            rows.append(f'<div style="color:{color}">{mark} {html.escape(check.name)}'
                        f"（{check.points}/{check.max}）{why}</div>")
        sections.append(w.HTML("".join(rows)))
        titles.append(f"{criterion.name}：{criterion.points} / {criterion.max}")
    accordion = w.Accordion(children=sections)
    accordion.titles = tuple(titles)
    total = w.HTML(f"<h4>挑战 {report.challenge} 总分：{report.total} / {report.max}</h4>")
    shared = [w.HTML(f"<div>大部分没通过的检查都卡在同一个问题上：<br>{_pre(common)}</div>")] if common else []
    return w.VBox([total, *shared, accordion])


def _pre(text: str) -> str:
    """*text* as HTML, keeping its line breaks and the column of a SyntaxError's caret."""
    if "\n" not in text:
        return html.escape(text)
    return f'<pre style="margin:0;white-space:pre-wrap">{html.escape(text)}</pre>'
