"""Reading the per-minute and per-hour counters the scripts write.

Each queue's ``series`` hash (taskq.keys) holds ``m:<epoch minute>:<event>``
and ``h:<epoch hour>:<event>`` counts, bumped by the scripts
(lua/includes/emit.lua: count_event; complete adds ``...:runtime_ms``, the
summed run time in ms of the tasks it completed). This is the one reader of
that format: every view of the counters goes through :func:`read`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MINUTE = "m"
HOUR = "h"
BUCKET_SECONDS = {MINUTE: 60, HOUR: 3600}
"""Seconds one bucket of each kind spans (buckets count from the epoch)."""
RUNTIME = "runtime_ms"
"""The event whose value is completed tasks' summed run time in ms."""


def field(kind: str, bucket: int, event: str) -> str:
    """A counter's field in a series hash, as the scripts write it."""
    return f"{kind}:{bucket}:{event}"


def bucket_of(kind: str, epoch_seconds: float) -> int:
    return int(epoch_seconds) // BUCKET_SECONDS[kind]


class Counts(dict):
    """(bucket, event) -> count, summed over the series read."""

    def total(self, event: str, buckets: Iterable[int] | None = None) -> int:
        if buckets is None:
            return sum(v for (_, e), v in self.items() if e == event)
        return sum(self.get((b, event), 0) for b in buckets)


def read(redis, series_keys: Sequence[str], kind: str, buckets: Iterable[int],
         events: Sequence[str]) -> Counts:
    """The counts of ``events`` in ``buckets``, summed over every series
    hash in ``series_keys``; one round trip."""
    buckets = list(buckets)
    pairs = [(b, e) for b in buckets for e in events]
    fields = [field(kind, b, e) for b, e in pairs]
    counts = Counts.fromkeys(pairs, 0)
    if not series_keys or not fields:
        return Counts(counts)
    pipe = redis.pipeline(transaction=False)
    for key in series_keys:
        pipe.hmget(key, fields)
    for values in pipe.execute():
        for pair, v in zip(pairs, values):
            if v:
                counts[pair] += int(v)
    return Counts(counts)
