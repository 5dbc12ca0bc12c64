"""Small statistics helpers shared by the scheduler and the agent system."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["percentiles"]

QUANTILES = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))


def percentiles(values: Iterable[float]) -> dict[str, float]:
    """p50/p90/p99 (linear interpolation), mean and max; all 0.0 for no values."""
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
    return out
