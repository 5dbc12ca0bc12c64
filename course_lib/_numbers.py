"""One check for the numbers that go onto a loop's float clock."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["is_finite_number"]


def is_finite_number(value: Any) -> bool:
    """An int or a float (not a bool) that is finite, also as a float.

    ``10**400`` is refused too: such numbers are added to the loop's float
    clock, and that int has no float.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False
