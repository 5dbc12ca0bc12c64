"""A safe arithmetic evaluator for `CalculatorAgent`: an AST walk, never ``eval``.

Allowed: int and float literals, ``+ - * / // % **``, parentheses, unary
``+``/``-``, the constants ``pi``, ``e`` and ``tau``, and the functions in
`FUNCTIONS`.  Everything else (names, attributes, subscripts, comparisons,
strings, lambdas, ...) is refused with a `CalculatorError` that says what was
refused.  Sizes are bounded so that no expression can take long or use much
memory: the text length, the number of AST nodes, exponents (also the one
inside ``round(x, -n)``), and the bit size of integer results.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Union

from .errors import PermanentTaskError

__all__ = ["CalculatorError", "FUNCTIONS", "CONSTANTS", "evaluate"]

Number = Union[int, float]

MAX_LENGTH = 500  # characters of expression text
MAX_NODES = 200  # AST nodes
MAX_EXPONENT = 1000  # |b| in a ** b
MAX_BITS = 4096  # bit length of any integer, operands and results
MAX_ROUND_DIGITS = 1300  # |n| in round(x, n); past the 1,234 digits of 4096 bits it changes nothing


def _round(value: Number, ndigits: Union[int, None] = None) -> Number:
    # round(x, -n) computes 10 ** n inside: bound n as any exponent is bounded.
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise CalculatorError(
            f"round() to {ndigits} digits is out of range (limit {MAX_ROUND_DIGITS})")
    return round(value) if ndigits is None else round(value, ndigits)


FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": _round,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}

_BINARY: dict[type, Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Number], Number]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class CalculatorError(PermanentTaskError, ValueError):
    """The expression is not allowed or cannot be computed.  Retrying cannot help."""


def evaluate(expression: str) -> Number:
    """The value of an arithmetic *expression*, or `CalculatorError`.

    >>> evaluate("2 * (3 + 4) ** 2 - sqrt(16)")
    94.0
    """
    if not isinstance(expression, str):
        raise CalculatorError(f"the expression must be a string, got {type(expression).__name__}")
    if len(expression) > MAX_LENGTH:
        raise CalculatorError(
            f"the expression is {len(expression)} characters long; the limit is {MAX_LENGTH}"
        )
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise CalculatorError(f"not an arithmetic expression: {expression!r} ({exc})") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise CalculatorError(f"the expression has {nodes} parts; the limit is {MAX_NODES}")
    try:
        value = _eval(tree.body)
    except (ArithmeticError, ValueError, TypeError) as exc:
        if isinstance(exc, CalculatorError):
            raise
        raise CalculatorError(f"cannot compute {expression!r}: {exc}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError(f"{expression!r} does not have a finite value")
    return value


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant):
        value = node.value
        if type(value) not in (int, float):  # bool, str, bytes, None, complex, ...
            raise CalculatorError(f"only numbers are allowed, not {value!r}")
        return _check_size(value)
    if isinstance(node, ast.BinOp):
        op = _BINARY.get(type(node.op))
        if op is None:
            raise CalculatorError(f"the operator in {_source(node)!r} is not allowed")
        left, right = _eval(node.left), _eval(node.right)
        _check_operation(node.op, left, right)
        return _check_size(op(left, right))
    if isinstance(node, ast.UnaryOp):
        op = _UNARY.get(type(node.op))
        if op is None:
            raise CalculatorError(f"the operator in {_source(node)!r} is not allowed")
        return op(_eval(node.operand))
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise CalculatorError(
            f"unknown name {node.id!r}; the only names are {', '.join(CONSTANTS)} "
            f"and the functions {', '.join(FUNCTIONS)}"
        )
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            raise CalculatorError(
                f"calling {_source(node.func)!r} is not allowed; "
                f"the allowed functions are {', '.join(FUNCTIONS)}"
            )
        if node.keywords:
            raise CalculatorError(f"{name}() takes no keyword arguments here")
        return _check_size(FUNCTIONS[name](*(_eval(arg) for arg in node.args)))
    raise CalculatorError(f"{type(node).__name__} is not allowed: {_source(node)!r}")


def _check_operation(op: ast.operator, left: Number, right: Number) -> None:
    """Refuse operations whose result would be too big, before computing them."""
    if isinstance(op, ast.Pow):
        if abs(right) > MAX_EXPONENT:
            raise CalculatorError(f"the exponent {right} is too large (limit {MAX_EXPONENT})")
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            if left.bit_length() * right > MAX_BITS:
                raise CalculatorError(f"{left} ** {right} would be too large a number")
    elif isinstance(op, ast.Mult) and isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_BITS:
            raise CalculatorError("the product would be too large a number")


def _check_size(value: Number) -> Number:
    if not isinstance(value, (int, float)):  # e.g. (-8) ** 0.5 is complex
        raise CalculatorError(f"the result {value!r} is not a real number")
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise CalculatorError(f"a number in the expression exceeds {MAX_BITS} bits")
    return value


def _source(node: ast.AST) -> str:
    return ast.unparse(node)
