"""Rate limits: at most N task starts per period, for a whole queue and per
rate key (a task's ``rate_key`` option: one per customer, per third-party
API, ...).

Enforced where tasks are claimed (taskq/lua/includes/rate.lua), with a
sliding log of starts per limited name, so no window of the period ever
holds more than the limit, whatever the number of workers and processes. A
task whose key is at its limit is parked until its window has room: no
worker spins on it, and tasks behind it that are free to run go first. A
start is a claim: a retry is a start again; a task given back (a worker
stopping) has used its slot.

Keys live with their queue (its hash tag, so one cluster slot): a rate key
limits the tasks of one queue. A limit is set per queue and key, and
changing or removing it takes effect at the next claim (parked tasks are
looked at again at once).

    q.set_rate_limit("100/s")                  # the queue: 100 starts a second
    q.set_rate_limit("10/m", key="acme")       # tasks with rate_key="acme"
    q.enqueue("app.crm:sync", rate_key="acme")
"""

from __future__ import annotations

import re
from typing import Any

from .errors import TaskqValueError

UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
MAX_LIMIT = 1_000_000
"""Starts per window at most (the log holds one entry per start in it)."""
MAX_PERIOD_MS = 7 * 86_400_000
QUEUE = ""
"""The rates field of a queue's own limit (a rate key is never empty)."""
_SPEC_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(ms|s|m|h|d)\s*$")


def parse(spec: Any) -> tuple[int, int]:
    """(limit, period ms) from ``"100/s"``, ``"10/m"``, ``"5/10s"``,
    ``"1000/h"`` or a (limit, seconds) pair; TaskqValueError otherwise."""
    if isinstance(spec, str):
        m = _SPEC_RE.match(spec)
        if not m:
            raise TaskqValueError(f"rate limit {spec!r}: write it as <count>/<period>, e.g. "
                                  "100/s, 10/m, 5/10s, 1000/h")
        limit, period_ms = int(m[1]), int(m[2] or "1") * UNITS[m[3]]
    elif isinstance(spec, (tuple, list)) and len(spec) == 2:
        limit, seconds = spec
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TaskqValueError(f"rate limit count must be an integer, got {limit!r}")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != seconds:
            raise TaskqValueError(f"rate limit period must be seconds, got {seconds!r}")
        period_ms = round(seconds * 1000) if abs(seconds) < MAX_PERIOD_MS else MAX_PERIOD_MS + 1
    else:
        raise TaskqValueError(f"rate limit must be text like '100/s' or (count, seconds), "
                              f"got {spec!r}")
    if not 1 <= limit <= MAX_LIMIT:
        raise TaskqValueError(f"rate limit count must be 1..{MAX_LIMIT}, got {limit}")
    if not 1 <= period_ms <= MAX_PERIOD_MS:
        raise TaskqValueError("rate limit period must be 1 ms .. 7 days")
    return limit, period_ms


def text(limit: int, period_ms: int) -> str:
    """A limit as it is written back: ``100/s``, ``10/m``, ``5/10s``."""
    for unit, ms in sorted(UNITS.items(), key=lambda u: -u[1]):
        if period_ms % ms == 0:
            n = period_ms // ms
            return f"{limit}/{unit}" if n == 1 else f"{limit}/{n}{unit}"
    return f"{limit}/{period_ms}ms"  # never reached: ms divides everything


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not key or len(key) > 200:
        raise TaskqValueError("rate_key must be text of 1-200 characters")
    try:
        key.encode()
    except UnicodeEncodeError:
        raise TaskqValueError("rate_key must not hold a lone surrogate") from None
    return key


def set_limit(client, qkeys, spec: Any, key: str | None = None) -> None:
    """Set (``spec``) or remove (None) the limit of a queue or of one of its
    rate keys. Parked tasks of that key are looked at by the next claim,
    and idle workers are woken to make it."""
    field = QUEUE if key is None else check_key(key)
    pipe = client.pipeline(transaction=True)  # one slot: the queue's keys
    if spec is None:
        pipe.hdel(qkeys.rates, field)
    else:
        limit, period_ms = parse(spec)
        pipe.hset(qkeys.rates, field, f"{limit}:{period_ms}")
        pipe.hset(qkeys.meta, "rated", "1")
    if field:
        pipe.zadd(qkeys.rate_due, {field: 0}, xx=True)  # re-evaluated at once
    pipe.lpush(qkeys.wake, "1")
    pipe.ltrim(qkeys.wake, 0, 63)
    pipe.execute()


def limits(client, qkeys) -> dict[str, Any]:
    """``{"queue": "100/s" or None, "keys": {key: "10/m", ...}}``."""
    found = {}
    for field, value in client.hgetall(qkeys.rates).items():
        field = field.decode() if isinstance(field, bytes) else field
        value = value.decode() if isinstance(value, bytes) else value
        limit, _, period = value.partition(":")
        found[field] = text(int(limit), int(period))
    return {"queue": found.pop(QUEUE, None), "keys": dict(sorted(found.items()))}


def busiest_window(starts_ms: list[int], period_ms: int) -> int:
    """The most starts any window of ``period_ms`` holds (sliding): what a
    limit bounds (its tests and scripts/rate_proof.py check it so)."""
    starts, worst, j = sorted(starts_ms), 0, 0
    for i in range(len(starts)):
        while starts[i] - starts[j] >= period_ms:
            j += 1
        worst = max(worst, i - j + 1)
    return worst


__all__ = ["busiest_window", "parse", "text", "check_key", "set_limit", "limits", "QUEUE"]
