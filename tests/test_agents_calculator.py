"""The safe calculator: what it computes, and every kind of input it refuses."""

import math

import pytest

from course_lib import run_virtual
from course_lib.agents import (
    AgentCapability,
    CalculatorAgent,
    CalculatorError,
    Coordinator,
    PermanentTaskError,
    TaskState,
    evaluate,
)


@pytest.mark.parametrize("expression, value", [
    ("10 + 20", 30),
    ("2 * (3 + 4) ** 2 - 1", 97),
    ("7 // 2 + 7 % 2", 4),
    ("-3 ** 2", -9),
    ("+4 / 8", 0.5),
    ("sqrt(16) + abs(-2) + round(2.6)", 9.0),
    ("2 ** 10", 1024),
    ("floor(pi) + ceil(e)", 6),
    ("log(exp(1))", 1.0),
    ("2 ** -1", 0.5),
    ("round(1234.5678, 2) + round(1234, -2)", 1234.57 + 1200),
])
def test_arithmetic(expression, value):
    assert evaluate(expression) == pytest.approx(value)


@pytest.mark.parametrize("expression, message", [
    ("__import__('os').system('ls')", "calling \"__import__('os').system\" is not allowed"),
    ("().__class__.__bases__", "Attribute is not allowed"),
    ("9**9**9", "the exponent 387420489 is too large"),
    ("1" * 10_000, "10000 characters long"),
    ("x + 1", "unknown name 'x'"),
    ("open('/etc/passwd')", "calling 'open' is not allowed"),
    ("[1, 2][0]", "is not allowed"),
    ("'a' * 3", "only numbers are allowed"),
    ("True + 1", "only numbers are allowed"),
    ("1 < 2", "Compare is not allowed"),
    ("1 << 2", "the operator in '1 << 2' is not allowed"),
    ("lambda: 1", "Lambda is not allowed"),
    ("sqrt(x=4)", "no keyword arguments"),
    ("1 / 0", "division by zero"),
    ("sqrt(-1)", "math domain error"),
    ("(-8) ** 0.5", "not a real number"),
    ("10.0 ** 400", "cannot compute"),
    ("2 ** 1000 * 2 ** 1000 * 2 ** 1000 * 2 ** 1000 * 2 ** 1000", "too large a number"),
    ("1e308 * 10", "does not have a finite value"),
    ("(" * 201 + "1" + ")" * 201, "too many nested parentheses"),
    ("-" * 300 + "1", "parts; the limit is"),
    ("2 +", "not an arithmetic expression"),
    ("round(7, -10 ** 8)", "round() to -100000000 digits is out of range"),  # 10 ** n inside
    ("round(1.5, 10 ** 9)", "out of range"),
    (None, "must be a string"),
])
def test_refused_with_a_clear_error(expression, message):
    with pytest.raises(CalculatorError) as caught:
        evaluate(expression)
    assert message in str(caught.value)


def test_errors_are_permanent_value_errors():
    assert issubclass(CalculatorError, PermanentTaskError)
    assert issubclass(CalculatorError, ValueError)


def test_the_calculator_never_calls_eval(monkeypatch):
    import builtins

    def no_eval(*args, **kwargs):
        raise AssertionError("eval was called")

    monkeypatch.setattr(builtins, "eval", no_eval)
    assert evaluate("1 + 2 * 3") == 7
    assert math.isclose(evaluate("sin(pi / 2)"), 1.0)


def test_an_injection_fails_the_task_once_without_retries():
    async def main():
        async with Coordinator(max_attempts=3) as coordinator:
            await CalculatorAgent("calc-1").connect(coordinator)
            await CalculatorAgent("calc-2").connect(coordinator)
            task_id = await coordinator.assign_task(
                {"type": AgentCapability.CALCULATE, "expression": "__import__('os').system('ls')"})
            with pytest.raises(CalculatorError, match="not allowed"):
                await coordinator.result(task_id)
            return coordinator.tasks[task_id], coordinator.get_stats()

    record, stats = run_virtual(main())
    assert record.state is TaskState.FAILED and record.attempt == 1
    assert stats["retried"] == 0
