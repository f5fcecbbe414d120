"""Statistics over rectifications: aging buckets, on-time rate, days to close. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence

AGING_BUCKETS: list[tuple[str, int, int | None]] = [
    ("1-7", 1, 7),
    ("8-30", 8, 30),
    ("31-90", 31, 90),
    (">90", 91, None),
]


def aging_bucket(days_overdue: int) -> str | None:
    """The aging bucket of an open rectification ``days_overdue`` past due (None: on time)."""
    for name, lo, hi in AGING_BUCKETS:
        if days_overdue >= lo and (hi is None or days_overdue <= hi):
            return name
    return None


def percentile(values: Sequence[float], p: float, presorted: bool = False) -> float | None:
    """Linear-interpolated percentile (p in 0..100), like numpy's default; None when empty.
    ``presorted``: the values are in ascending order already."""
    if not values:
        return None
    xs = values if presorted else sorted(values)
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    if lo == hi:
        return float(xs[int(k)])
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
