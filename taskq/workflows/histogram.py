"""A fixed log-scale duration histogram: bounded memory, known precision.

Bucket 0 holds durations under 1 ms; bucket i >= 1 holds
[2^((i-1)/4), 2^(i/4)) ms, four buckets per doubling, up to bucket
MAX_BUCKET (about 6.4 days; longer durations land there). A percentile is
reported as its bucket's geometric midpoint, so any estimate is within a
factor 2^(1/8) of the true value: at most 9.1 % off (plus rounding to
whole ms). Averages are not estimated: the exact sum is counted beside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

PER_DOUBLING = 4
MAX_BUCKET = 1 + PER_DOUBLING * 29
"""2^29 ms is about 6.2 days."""
RELATIVE_ERROR = 2 ** (1 / (2 * PER_DOUBLING)) - 1
"""The largest relative error of a percentile estimate (about 0.0905)."""


def bucket(duration_ms: float) -> int:
    if duration_ms < 1:
        return 0
    return min(MAX_BUCKET, 1 + math.floor(PER_DOUBLING * math.log2(duration_ms)))


def midpoint(i: int) -> float:
    """The value a percentile falling in bucket ``i`` is reported as."""
    if i <= 0:
        return 0.0
    return 2 ** ((i - 0.5) / PER_DOUBLING)


def percentile(counts: Mapping[int, int], q: float) -> int | None:
    """The q-quantile (0 < q <= 1) of the counted durations, in whole ms;
    None when nothing was counted. Nearest rank: the smallest bucket whose
    cumulative count reaches ceil(q * n)."""
    n = sum(counts.values())
    if n <= 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for i in sorted(counts):
        seen += counts[i]
        if seen >= rank:
            return round(midpoint(i))
    return round(midpoint(max(counts)))  # unreachable: seen == n >= rank at the end
