"""The language setting and its catalogs: complete, used, with matching fields."""

import ast
import string
from pathlib import Path

import pytest

import course_lib
from course_lib._catalog import EN, NAMES, ZH
from course_lib.agents.types import AgentStatus, EventKind, TaskState
from course_lib.i18n import Reason, say, tr
from course_lib.scheduler.task import TaskStatus

LIBRARY = Path(course_lib.__file__).parent


def _literals(function):
    """The constant first arguments of every call to *function* in the library."""
    found = set()
    for path in LIBRARY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                    and getattr(node.func, "id", getattr(node.func, "attr", None)) == function):
                found.add(node.args[0].value)
    return found


def _fields(template):
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("function, catalog", [("tr", EN), ("Reason", ZH)])
def test_every_template_in_the_code_is_translated_and_every_entry_is_used(function, catalog):
    used = _literals(function)
    assert used, f"no {function}() calls found"
    assert sorted(used - catalog.keys()) == [], "missing from the catalog"
    assert sorted(catalog.keys() - used) == [], "in the catalog but never used"


@pytest.mark.parametrize("catalog", [EN, ZH])
def test_translations_use_the_same_fields(catalog):
    for template, translation in catalog.items():
        assert _fields(template) == _fields(translation), template


def test_every_state_and_event_kind_has_a_chinese_name():
    for enum in (TaskStatus, TaskState, AgentStatus, EventKind):
        for member in enum:
            assert member.value in NAMES, member


def test_chinese_is_the_default_and_english_is_an_option(english):
    assert course_lib.get_language() == "en"
    assert tr("时间线") == "Timeline" and say(TaskStatus.RUNNING) == "running"
    course_lib.set_language("zh")
    assert tr("时间线") == "时间线" and say(TaskStatus.RUNNING) == "运行中"
    with pytest.raises(ValueError, match="zh, en"):
        course_lib.set_language("fr")
    assert course_lib.get_language() == "zh"


def test_a_reason_is_english_text_that_can_be_said_in_chinese(english):
    reason = Reason("the task already ended {state}", state=TaskState.COMPLETED)
    assert reason == "the task already ended completed"  # a plain str for code that reads it
    assert say(Reason("late or duplicate result: {why}", why=reason)) == (
        "late or duplicate result: the task already ended completed")
    course_lib.set_language("zh")
    assert say(Reason("late or duplicate result: {why}", why=reason)) == "迟到或重复的结果：任务已经结束（完成）"
    assert say(Reason("no heartbeat for {seconds:g} s", seconds=3.0)) == "3 秒没有心跳"
    assert say("any other text") == "any other text"
    assert Reason("braces {kept} without values") == "braces {kept} without values"
