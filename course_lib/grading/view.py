"""Show a grading report in a notebook: a widget, or the text report without one."""

from __future__ import annotations

import html
from typing import Any

from .._jupyter import WidgetDisplay, widgets_available
from .rubric import Report

__all__ = ["report_widget", "show_report"]


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
    for criterion in report.criteria:
        rows = []
        for check in criterion.checks:
            color = "#2ca02c" if check.passed else "#d62728"
            mark = "✔" if check.passed else "✘"
            reason = "" if check.passed else f"<br><small>原因：{html.escape(check.reason)}</small>"
            rows.append(f'<div style="color:{color}">{mark} {html.escape(check.name)}'
                        f"（{check.points}/{check.max}）{reason}</div>")
        sections.append(w.HTML("".join(rows)))
        titles.append(f"{criterion.name}：{criterion.points} / {criterion.max}")
    accordion = w.Accordion(children=sections)
    accordion.titles = tuple(titles)
    total = w.HTML(f"<h4>挑战 {report.challenge} 总分：{report.total} / {report.max}</h4>")
    return w.VBox([total, accordion])
