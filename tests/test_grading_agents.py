"""The autograder on challenge 2: calibration and single-bug mutants."""

import re
from pathlib import Path

import pytest

from course_lib.grading import grade_file

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions" / "challenge2"
SOLUTIONS = ROOT / "course_lib" / "solutions"
MUTANTS = sorted(SUBMISSIONS.glob("mut_*.py"))


def _lost(report):
    return {c.key for c in report.criteria if c.points < c.max}


@pytest.mark.parametrize("path", [SUBMISSIONS / "correct.py", SOLUTIONS / "challenge2_agents.py"],
                         ids=["library", "worked_solution"])
def test_the_reference_agent_systems_score_full_marks(path):
    report = grade_file(path, 2)
    assert (report.total, report.max) == (100, 100), report.text()
    assert [(c.key, c.max) for c in report.criteria] == [
        ("registration", 20), ("dispatch_balancing", 25), ("messaging", 20),
        ("fault_tolerance", 20), ("monitoring", 15)]
    assert [c.name for c in report.criteria] == [
        "注册与能力管理", "任务分发和负载均衡", "消息传递", "容错和故障恢复", "系统监控和统计"]


def test_the_untouched_skeleton_scores_zero_and_is_detected_as_challenge_2():
    report = grade_file(ROOT / "exercises" / "challenge2_agents.py")
    assert report.challenge == 2 and report.total == 0
    reasons = [c.reason for crit in report.criteria for c in crit.checks]
    assert all(reasons) and "assign_task()" in report.common_reason()
    steps = [line for line in report.text().splitlines() if line.startswith("  下一步：")]
    assert len(steps) == len(set(steps)) == len(report.criteria) == 5
    assert report.text().count(report.common_reason()) == 1


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda p: p.stem)
def test_each_single_bug_mutant_loses_points_only_under_its_criterion(mutant):
    criterion = re.search(r"# criterion: (\w+)", mutant.read_text()).group(1)
    report = grade_file(mutant, 2)
    assert _lost(report) == {criterion}, [c.reason for crit in report.criteria for c in crit.checks]


def test_every_criterion_of_both_challenges_has_a_mutant():
    covered = {(path.parent.name, re.search(r"# criterion: (\w+)", path.read_text()).group(1))
               for path in SUBMISSIONS.parent.glob("challenge*/mut_*.py")}
    assert {c for name, c in covered if name == "challenge1"} == {
        "priority", "dependencies", "concurrency_timeout", "retry", "monitoring"}
    assert {c for name, c in covered if name == "challenge2"} == {
        "registration", "dispatch_balancing", "messaging", "fault_tolerance", "monitoring"}
    assert len(covered) >= 10
    per_criterion = [re.search(r"# criterion: (\w+)", p.read_text()).group(1) for p in MUTANTS]
    assert min(per_criterion.count(c) for c in set(per_criterion)) >= 2  # at least two each


def test_report_widget_and_text_fallback(capsys):
    from course_lib.grading import report_widget, show_report

    report = grade_file(SUBMISSIONS / "mut_monitoring_no_per_agent.py", 2)
    box = report_widget(report)
    total, accordion = box.children
    assert "96 / 100" in total.value
    assert accordion.titles[-1] == "系统监控和统计：11 / 15"
    assert "✘" in accordion.children[-1].value and "原因：" in accordion.children[-1].value
    show_report(report)  # no Jupyter kernel here: the text report
    out = capsys.readouterr().out
    assert out.startswith("挑战 2 评分报告：mut_monitoring_no_per_agent.py") and "总分：96 / 100" in out
