"""Small statistics helpers shared by the scheduler and the agent system."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["percentiles", "rounded"]

QUANTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))
DECIMALS = 9  # nanoseconds, a monotonic clock's resolution: float noise goes, exact times stay


def rounded(value: float) -> float:
    """*value* to `DECIMALS` places, so a snapshot shows 2.4, not 2.4000000000000004."""
    return round(value, DECIMALS)


def percentiles(values: Iterable[float]) -> dict[str, float]:
    """p50/p90/p99 (linear interpolation), mean and max, `rounded`; all 0.0 for no values."""
    data = sorted(values)
    if not data:
        return {name: 0.0 for name, _ in QUANTILES} | {"mean": 0.0, "max": 0.0}
    out = {}
    last = len(data) - 1
    for name, q in QUANTILES:
        pos = q * last
        lo = int(pos)
        hi = min(lo + 1, last)
        out[name] = data[lo] + (data[hi] - data[lo]) * (pos - lo)
    out["mean"] = sum(data) / len(data)
    out["max"] = data[-1]
    return {name: rounded(value) for name, value in out.items()}
