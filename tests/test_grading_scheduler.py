"""The autograder on challenge 1: calibration, mutants, hostile files, batch, CLI."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.chapter_reference import SOURCE as CHAPTER_REFERENCE
from course_lib.grading import grade_batch, grade_file

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
MUTANTS = sorted((SUBMISSIONS / "challenge1").glob("mut_*.py"))
HOSTILE = SUBMISSIONS / "hostile"


def _lost(report):
    return {c.key for c in report.criteria if c.points < c.max}


def _reasons(report):
    return [check.reason for c in report.criteria for check in c.checks if not check.passed]


def test_the_reference_implementation_scores_full_marks():
    report = grade_file(SUBMISSIONS / "challenge1" / "correct.py", 1)
    assert (report.total, report.max) == (100, 100)
    assert [c.max for c in report.criteria] == [20, 25, 20, 15, 20]  # the chapter's weights
    assert [c.name for c in report.criteria] == ["优先级队列", "依赖关系", "并发控制和超时", "重试机制", "实时监控和统计"]


def test_the_untouched_skeleton_gets_one_symptom_and_a_next_step_per_criterion():
    report = grade_file(ROOT / "exercises" / "challenge1_scheduler.py")
    assert report.total == 0 and report.challenge == 1
    text = report.text()
    assert "None" in report.common_reason()
    assert text.count("实际返回了 None") <= 2  # once at the top, once inside the bad-graph check's own reason
    steps = [line for line in text.splitlines() if line.startswith("  下一步：")]
    assert len(steps) == len(set(steps)) == len(report.criteria) == 5


def test_a_file_that_does_not_parse_gets_one_reason_with_a_caret(tmp_path):
    broken = tmp_path / "challenge1_scheduler.py"
    broken.write_text("class SmartScheduler:\n    def run(self:\n        pass\n", encoding="utf-8")
    text = grade_file(broken, 1).text()
    assert text.count("语法错误") == 1
    assert "第 2 行" in text and "\n      def run(self:\n             ^" in text


def test_the_worked_solution_scores_full_marks_criterion_by_criterion():
    solution = ROOT / "course_lib" / "solutions" / "challenge1_scheduler.py"
    for criterion in ("priority", "dependencies", "concurrency_timeout", "retry", "monitoring"):
        report = grade_file(solution, 1, only=criterion)
        assert [c.key for c in report.criteria] == [criterion]
        assert report.total == report.max > 0, report.text()
    with pytest.raises(ValueError, match="no criterion 'speed'"):
        grade_file(solution, 1, only="speed")


def test_a_polling_scheduler_loses_what_polling_breaks_and_is_told_so():
    report = grade_file(SUBMISSIONS / "challenge1" / "polling.py", 1)
    failed = {check.name: check.reason for c in report.criteria for check in c.checks if not check.passed}
    assert set(failed) == {"工作槽一空出就启动下一个任务（事件驱动，不轮询）",
                           "依赖一完成，就和其他就绪任务按优先级竞争工作槽", "指数退避：retry_delay × 2^(k-1)",
                           "退避等待期间不占工作槽"}
    assert all("轮询" in reason for reason in failed.values()), failed
    assert re.search(r"晚了 0\.\d+ 秒", failed["工作槽一空出就启动下一个任务（事件驱动，不轮询）"])


def test_the_chapters_reference_solution_gets_what_its_bugs_deserve(tmp_path):
    source = tmp_path / "chapter_reference.py"
    source.write_text(CHAPTER_REFERENCE, encoding="utf-8")
    report = grade_file(source)
    reasons = "\n".join(_reasons(report))
    assert 30 <= report.total <= 70
    assert "'set' object has no attribute 'append'" in reasons  # the crash
    assert "先来先做" in reasons  # heapq with __lt__ on priority alone breaks FIFO ties
    assert "卡住" in reasons  # hangs after a failed dependency
    assert re.search(r"即在 0、[\d.]+、[\d.]+、[\d.]+ 秒开始尝试", reasons)  # linear, not exponential, backoff
    assert {c.key for c in report.criteria if c.points == c.max} >= {"concurrency_timeout"}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda p: p.stem)
def test_each_single_bug_mutant_loses_points_only_under_its_criterion(mutant):
    criterion = re.search(r"# criterion: (\w+)", mutant.read_text()).group(1)
    report = grade_file(mutant, 1)
    assert _lost(report) == {criterion}, _reasons(report)


@pytest.mark.parametrize("name, reason", [
    ("import_loop", "导入你的文件超过了"),
    ("import_exit", "sys.exit(1)"),
    ("import_error", "RuntimeError: I am not finished yet（import_error.py 第 2 行）"),
    ("prints_megabytes", "打印了太多内容"),
    ("memory_hog", "内存超过上限"),
    ("deadlock", "卡住"),
])
def test_hostile_submissions_get_zero_with_a_clear_reason(name, reason):
    report = grade_file(HOSTILE / f"{name}.py", 1)
    assert report.total == 0
    assert all(reason in r for r in _reasons(report)), _reasons(report)[:2]


def test_hangs_and_exits_cost_only_their_checks():
    hang = grade_file(SUBMISSIONS / "challenge1" / "mut_retry_hangs.py", 1)
    assert hang.total == 85 and all("卡住" in r for r in _reasons(hang))
    exits = grade_file(SUBMISSIONS / "challenge1" / "mut_retry_os_exit.py", 1)
    assert exits.total == 96 and "os._exit" in _reasons(exits)[0]


def test_the_same_submission_gets_the_same_report_when_graded_again():
    for name in ("correct", "mut_priority_lifo_ties", "mut_retry_linear_backoff"):
        first = grade_file(SUBMISSIONS / "challenge1" / f"{name}.py", 1, jobs=4).as_dict()
        assert grade_file(SUBMISSIONS / "challenge1" / f"{name}.py", 1, jobs=4).as_dict() == first


def test_batch_mode_writes_a_gradebook_and_feedback_and_survives_bad_files(tmp_path):
    batch = tmp_path / "class"
    (batch / "li-lei").mkdir(parents=True)
    (batch / "li-lei" / "challenge1_scheduler.py").write_text(
        (SUBMISSIONS / "challenge1" / "correct.py").read_text())
    for name, source in [("han-meimei", HOSTILE / "import_exit.py"),
                         ("wang-wu", SUBMISSIONS / "challenge1" / "mut_timeout_ignored.py")]:
        (batch / f"{name}.py").write_text(source.read_text())
    (batch / "_mutant.py").write_text((SUBMISSIONS / "challenge1" / "_mutant.py").read_text())
    (batch / "zhao-liu").mkdir()  # two loose files: which one is the submission?
    for name in ("a.py", "b.py"):
        (batch / "zhao-liu" / name).write_text("x = 1\n")
    out = tmp_path / "out"
    progress = tmp_path / "progress.txt"
    with open(progress, "w") as stream:
        grade_batch(batch, out, challenge=1, jobs=2, progress=stream)
    with open(out / "gradebook.csv", encoding="utf-8") as handle:
        rows = {row["learner"]: row for row in csv.DictReader(handle)}
    assert rows["li-lei"]["total"] == "100"
    assert rows["han-meimei"]["total"] == "0"
    assert rows["wang-wu"]["concurrency_timeout"] == "13" and rows["wang-wu"]["total"] == "93"
    assert list(rows["li-lei"])[1:6] == ["priority", "dependencies", "concurrency_timeout", "retry", "monitoring"]
    assert "sys.exit(1)" in (out / "feedback" / "han-meimei.txt").read_text(encoding="utf-8")
    assert "4/4 submissions" in progress.read_text()
    assert rows["zhao-liu"]["total"] == "0"
    feedback = (out / "feedback" / "zhao-liu.txt").read_text(encoding="utf-8")
    assert feedback.startswith("无法评分：") and "found 2 .py files" in feedback


def test_cli_prints_the_json_shape_and_detects_the_challenge():
    # A path relative to where the instructor stands (the checks run elsewhere).
    run = subprocess.run([sys.executable, "-m", "course_lib.grading", "--json",
                          "mut_stats_status_incomplete.py"], cwd=SUBMISSIONS / "challenge1",
                         capture_output=True, text=True, check=True)
    report = json.loads(run.stdout)
    assert report["challenge"] == 1 and report["total"] == 94 and report["max"] == 100
    monitoring = report["criteria"][4]
    assert monitoring["key"] == "monitoring" and monitoring["points"] == 14
    check = next(c for c in monitoring["checks"] if not c["passed"])
    assert set(check) == {"name", "passed", "points", "max", "reason"} and check["points"] == 0


def test_check_stage_says_done_or_not_done_and_never_raises(tmp_path, capsys):
    from course_lib.grading import check_stage

    check_stage(ROOT / "course_lib" / "solutions" / "challenge1_scheduler.py", "retry")
    assert capsys.readouterr().out.startswith("✅ 这一步完成了：重试机制 15 / 15 分")
    check_stage(ROOT / "exercises" / "challenge1_scheduler.py", "retry")
    assert capsys.readouterr().out.startswith("⏳ 还没完成：重试机制 0 / 15 分")
    check_stage(tmp_path / "renamed.py", "retry")
    assert capsys.readouterr().out.startswith("⏳ 还没完成：评分器打不开这个练习文件")
