"""What 05's testing section (and the term notes in 05/06) teach, run as claims.

The example test file exercises/test_challenge1_scheduler.py must pass on the
course's schedulers and fail on the shipped skeleton (a test that cannot fail
protects nothing).  Those runs start pytest in a subprocess with plugin
autoloading off and only pytest-asyncio loaded: what a learner with the `lab`
extra has, and it starts in well under a second.
"""

import asyncio
import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import course_lib
from course_lib import SmartScheduler, Task, TaskStatus, run_virtual
from course_lib.agents import AgentCapability, BaseAgent
from course_lib.chapter_reference import load

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_TESTS = ROOT / "exercises" / "test_challenge1_scheduler.py"
NOTEBOOK_05 = ROOT / "notebooks" / "05_challenge1_scheduler.ipynb"
SKELETON = ROOT / "exercises" / "challenge1_scheduler.py"
SOLUTION = ROOT / "course_lib" / "solutions" / "challenge1_scheduler.py"
EXAMPLE_TEST_COUNT = 7


def _pytest(test_file, tmp_path, target=None, config=True, cwd=None):
    """Run pytest on *test_file* in a subprocess; return {test name: outcome} and the output.

    *config*: True uses a minimal ini in *tmp_path* (the project's own config
    is for the course's test suite); False lets pytest find the configuration
    the way a learner's command does.
    """
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "COLUMNS": "200"}
    env.pop("SCHEDULER_UNDER_TEST", None)
    if target is not None:
        env["SCHEDULER_UNDER_TEST"] = str(target)
    command = [sys.executable, "-m", "pytest", "-p", "asyncio", "-q", "-rA", "--color=no"]
    if config:
        ini = tmp_path / "pytest.ini"
        ini.write_text("[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
                       "filterwarnings = error\naddopts = -p no:cacheprovider\n", encoding="utf-8")
        command += ["-c", str(ini), "--rootdir", str(tmp_path)]
    done = subprocess.run(command + [str(test_file)], capture_output=True, text=True, env=env,
                          cwd=cwd or tmp_path, timeout=60)
    outcomes = dict((name, outcome) for outcome, name in
                    re.findall(r"^(PASSED|FAILED|ERROR) \S*::(\w+)", done.stdout, re.MULTILINE))
    return outcomes, done.stdout + done.stderr


# ------------------------------------------------- the example test file

@pytest.mark.parametrize("target", ["course_lib", str(SOLUTION), "course_lib.solutions.challenge1_scheduler"],
                         ids=["course_lib", "solution-file", "solution-module"])
def test_the_example_tests_all_pass_on_the_courses_schedulers(target, tmp_path):
    outcomes, output = _pytest(EXAMPLE_TESTS, tmp_path, target)
    assert len(outcomes) == EXAMPLE_TEST_COUNT, output
    assert set(outcomes.values()) == {"PASSED"}, output


def test_the_example_tests_all_fail_on_the_shipped_skeleton_by_default(tmp_path):
    outcomes, output = _pytest(EXAMPLE_TESTS, tmp_path)  # no SCHEDULER_UNDER_TEST: the skeleton
    assert len(outcomes) == EXAMPLE_TEST_COUNT, output
    assert set(outcomes.values()) == {"FAILED"}, output
    # The reasons 05 quotes for the unfinished file.
    assert "TypeError: 'NoneType' object is not subscriptable" in output
    assert "assert None == 'soup'" in output


def test_a_run_that_never_ends_fails_after_60_virtual_seconds_instead_of_hanging(tmp_path):
    stuck = tmp_path / "stuck_scheduler.py"
    stuck.write_text(
        "import asyncio\n"
        "from course_lib import SmartScheduler as _Base, Task, TaskStatus\n\n"
        "class SmartScheduler(_Base):\n"
        "    async def run(self):\n"
        "        await asyncio.get_running_loop().create_future()   # waits for ever\n",
        encoding="utf-8")
    outcomes, output = _pytest(EXAMPLE_TESTS, tmp_path, stuck)
    stuck_tests = [name for name, outcome in outcomes.items() if outcome == "FAILED"]
    assert len(stuck_tests) == EXAMPLE_TEST_COUNT - 1, output  # all but the one that never calls run()
    reasons = [line for line in output.splitlines() if line.startswith("FAILED")]
    assert all(line.endswith("60 秒（虚拟时间）后还没结束：run() 是不是卡住了？") for line in reasons), output


def test_a_timeout_error_from_the_learners_run_is_shown_as_it_is_not_as_a_stuck_run(tmp_path):
    leaky = tmp_path / "leaky_scheduler.py"
    leaky.write_text(
        "import asyncio\n"
        "from course_lib import SmartScheduler as _Base, Task, TaskStatus\n\n"
        "class SmartScheduler(_Base):\n"
        "    async def run(self):\n"
        "        await asyncio.wait_for(asyncio.sleep(10), 2)   # a step-3 slip: the timeout escapes run()\n",
        encoding="utf-8")
    outcomes, output = _pytest(EXAMPLE_TESTS, tmp_path, leaky)
    reasons = [line for line in output.splitlines() if line.startswith("FAILED")]
    assert len(reasons) == EXAMPLE_TEST_COUNT - 1, output
    assert all("TimeoutError" in line and "60 秒" not in line for line in reasons), output


def test_the_learners_command_from_the_project_root_works_with_only_pytest_asyncio(tmp_path):
    """`python -m pytest exercises/test_challenge1_scheduler.py`, as 05 tells learners,
    with the configuration pytest finds there and no plugin beyond pytest-asyncio
    (the `lab` extra has no nbval and no pytest-timeout)."""
    target = "course_lib"
    outcomes, output = _pytest("exercises/test_challenge1_scheduler.py", tmp_path, target,
                               config=False, cwd=ROOT)
    assert len(outcomes) == EXAMPLE_TEST_COUNT, output
    assert set(outcomes.values()) == {"PASSED"}, output
    assert not (ROOT / "exercises" / ".pytest_cache").exists()


def test_an_async_test_without_the_asyncio_marker_fails_as_not_natively_supported(tmp_path):
    test_file = tmp_path / "test_forgot.py"
    test_file.write_text("async def test_forgot_the_marker():\n    assert True\n", encoding="utf-8")
    outcomes, output = _pytest(test_file, tmp_path)
    assert outcomes == {"test_forgot_the_marker": "FAILED"}, output
    assert "async def functions are not natively supported" in output


# ------------------------------------------------- what the section's cells claim

def test_the_chapter_test_returns_its_scheduler_and_task_b_got_task_as_result():
    from course_lib.chapter_reference import chapter_test_scheduler
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        scheduler = run_virtual(chapter_test_scheduler(course_lib))
    assert isinstance(scheduler, SmartScheduler)
    assert scheduler.tasks["task-b"].result == "B完成（依赖: A完成）"
    assert scheduler.tasks["task-fail"].retries == 2


def test_calling_an_async_test_function_only_makes_a_coroutine_that_has_not_run():
    ran = []

    async def test_something():
        ran.append(True)

    coroutine = test_something()
    assert asyncio.iscoroutine(coroutine) and ran == []
    coroutine.close()


def test_on_the_virtual_clock_a_dependent_task_starts_exactly_at_1_0_and_no_real_time_passes():
    async def scenario():
        loop = asyncio.get_running_loop()
        starts = {}

        async def step(name, seconds, *upstream):
            starts[name] = loop.time()
            await asyncio.sleep(seconds)
            return name

        scheduler = SmartScheduler(max_workers=2)
        await scheduler.add_task(Task(id="a", func=step, args=("a", 1.0)))
        await scheduler.add_task(Task(id="b", func=step, args=("b", 0.5), dependencies={"a"}))
        await scheduler.run()
        return starts, loop.time()

    starts, end = run_virtual(scenario())
    assert starts == {"a": 0.0, "b": 1.0}
    assert end == 1.5  # what a real run would wait; the virtual clock gets there without waiting


@pytest.mark.asyncio
async def test_on_a_real_clock_a_sleep_does_not_wake_at_exactly_its_nominal_time():
    loop = asyncio.get_running_loop()
    measured = []
    for _ in range(3):
        begin = loop.time()
        await asyncio.sleep(0.01)
        measured.append(loop.time() - begin)
    assert any(m != 0.01 for m in measured)


def _notebook_definition(notebook, name):
    """The function *name* as the notebook's own code cell defines it (run, not copied)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    source = next("".join(c["source"]) for c in cells
                  if c["cell_type"] == "code" and f"def {name}(" in "".join(c["source"]))
    namespace = {"asyncio": asyncio, "run_virtual": run_virtual}
    exec(source, namespace)
    return namespace[name]


def test_exercise_6s_answer_passes_on_course_lib_and_fails_on_the_chapters_linear_backoff():
    always_failing_starts = _notebook_definition(NOTEBOOK_05, "always_failing_starts")
    answer = [0.0, 1.0, 3.0, 7.0]
    assert always_failing_starts(course_lib) == answer
    assert always_failing_starts(load(fixed=True)) == [0.0, 1.0, 3.0, 6.0]  # waits 1, 2, 3


def test_an_ellipsis_left_in_a_comparison_stays_in_the_functions_constants():
    """05's check spots an unfinished exercise 6 by the `...` in the test's code."""
    def unfinished(impl):
        starts = []
        assert starts == ...

    def finished(impl):
        starts = []
        assert starts == [0.0, 1.0, 3.0, 7.0]

    assert Ellipsis in unfinished.__code__.co_consts
    assert Ellipsis not in finished.__code__.co_consts


# ------------------------------------------------- term notes: dataclass, Enum, ABC

def _skeleton(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


@pytest.mark.parametrize("task_class", ["course_lib", "exercise"])
def test_task_is_a_dataclass_with_a_generated_init_repr_eq_and_its_own_default_set(task_class):
    TaskClass = Task if task_class == "course_lib" else _skeleton(SKELETON, "skeleton_c1").Task

    async def work():
        return None

    assert dataclasses.is_dataclass(TaskClass)
    one, two = TaskClass(id="soup", func=work), TaskClass(id="soup", func=work)
    assert (one.priority, one.timeout, one.max_retries, one.retry_delay) == (1, 30.0, 3, 1.0)
    assert repr(one).startswith("Task(id='soup', func=")
    assert one.dependencies == set() and one.dependencies is not two.dependencies
    two.created_at = one.created_at
    assert one == two  # __eq__ compares the fields


def test_a_mutable_default_needs_default_factory():
    with pytest.raises(ValueError, match="default_factory"):
        @dataclasses.dataclass
        class Bad:
            dependencies: set = set()


def test_task_status_is_an_enum_whose_value_is_the_string_and_typos_fail_loudly():
    for status_class in (TaskStatus, _skeleton(SKELETON, "skeleton_c1b").TaskStatus):
        assert status_class.FAILED.value == "failed"
        assert status_class("failed") is status_class.FAILED
        assert (status_class.FAILED == "failed") is False
        with pytest.raises(AttributeError):
            status_class.FAILD


@pytest.mark.parametrize("agents", ["course_lib", "exercise"])
def test_base_agent_is_abstract_so_it_and_a_subclass_without_process_task_cannot_be_created(agents):
    if agents == "course_lib":
        Base, capabilities = BaseAgent, {AgentCapability.SEARCH}
    else:
        module = _skeleton(ROOT / "exercises" / "challenge2_agents.py", "skeleton_c2")
        Base, capabilities = module.BaseAgent, {module.AgentCapability.SEARCH}

    class Forgetful(Base):
        pass

    class Helper(Base):
        async def process_task(self, task):
            return task

    async def create(cls):  # the exercise's BaseAgent makes an asyncio.Queue: create it in a loop
        return cls("agent-1", capabilities)

    for cls in (Base, Forgetful):
        with pytest.raises(TypeError, match="abstract method.*process_task"):
            run_virtual(create(cls))
    assert run_virtual(create(Helper)).id == "agent-1"
