"""Periodic upkeep of every known queue: promote due delayed tasks, reap
expired leases, deliver cross-queue dependency outcomes, enforce retention.

``taskq scheduler`` (workers/upkeep.py) runs :meth:`Sweep.tick` every
second on the elected leader, then every pass in UPKEEP. A pass over every
queue (:func:`tick`) would cost Redis commands per queue per second even
when all are idle; a Sweep visits a queue only when the timer its last visit
reported is due, when it is new, or when a worker serving it goes silent,
plus a slice of all queues per tick, so a timer added since a queue's last
visit is still met within max(SWEEP_SECONDS, queues / SWEEP_PER_TICK) s.
"""

from __future__ import annotations

import bisect
import json
import math
import time
from typing import Callable

from . import deps, retention
from .connection import as_taskq_client
from .keys import WORKFLOW_QUEUE, Keys
from .lua import call, execute
from .retention import Retention
from .worker_registry import FORGET_AFTER, HEARTBEAT_INTERVAL

REAP_LIMIT = 1000
"""Tasks promoted / leases reaped per queue per tick, at most."""
MINUTE_BUCKETS_KEPT = 26 * 60
"""Per-minute analytics buckets kept (a day and a bit)."""
HOUR_BUCKETS_KEPT = 35 * 24
"""Per-hour analytics buckets kept (a month and a bit)."""
PRUNE_EVERY = 10.0
"""Seconds between retention passes (the default retention and the counts)."""
ROUNDS = 20
"""Calls one pass makes on one queue, at most, while each removes a full
limit: REAP_LIMIT tasks a call (a few ms of Redis each), so a queue
finishing up to ROUNDS * REAP_LIMIT / PRUNE_EVERY tasks a second (2,000)
is kept within its settings..."""
PRUNE_BUDGET = 2.0
"""...and a pass stops after this many seconds (after its first round), so
a backlog many queues hold at once (the first pass after an upgrade, or
after a retention was shortened) is worked off over several passes, never
in one burst that keeps Redis busy."""
SWEEP_SECONDS = 10.0
"""A Sweep visits every known queue at least this often..."""
SWEEP_PER_TICK = 25
"""...unless that takes more visits a tick than this: then every
ceil(queues / SWEEP_PER_TICK) ticks (40 s at 1,000 queues), so an idle
scheduler's cost stays bounded whatever the queue count."""
LATE_AFTER = 2 * HEARTBEAT_INTERVAL
"""A worker whose registry heartbeat is this late is taken for dead: its
queues are visited at once (its leases reaped when they expire), not when
the slices come round."""


def queue_names(client, keys: Keys) -> list[str]:
    return sorted(as_taskq_client(client).smembers(keys.queues))


def tick(client, keys: Keys, prune: bool = False) -> dict[str, int]:
    """One pass over every queue; returns totals for logging and tests.
    ``client`` is any redis-py client (see taskq.connection)."""
    client = as_taskq_client(client)
    names = queue_names(client, keys)
    totals = visit(client, keys, names)[0]
    if prune:
        totals["pruned"] = prune_all(client, keys, names)
    return totals


def visit(client, keys: Keys, names: list[str]) -> tuple[dict[str, int], list[int]]:
    """Reap ``names`` (one pipelined script each) and drain the outboxes
    that hold entries; returns the totals and each queue's ms to its next
    timer (-1: none)."""
    totals = {"requeued": 0, "failed": 0, "promoted": 0, "delivered": 0, "pruned": 0,
              "expired": 0}
    pipe = client.pipeline(transaction=False)
    for name in names:
        call(pipe, "reap", keys.queue(name), REAP_LIMIT)
    timers = []
    for name, reply in zip(names, execute(pipe) if names else []):
        # (a call that hit its limit on anything reports its timer due: 0 ms)
        _, requeued, failed, promoted, _sent, next_ms, outbox, expired = reply
        totals["requeued"] += requeued
        totals["failed"] += failed
        totals["promoted"] += promoted
        totals["expired"] += expired
        if outbox:
            totals["delivered"] += deps.drain_outbox(client, keys, name)
        timers.append(next_ms)
    return totals, timers


class Sweep:
    """The scheduler's incremental upkeep: remembers when each queue next
    needs a visit (the reap script's reply) and visits, each tick, the
    queues due now, the new ones, and the next slice of all of them; so
    an idle tick costs about 2 + min(queues / SWEEP_SECONDS, SWEEP_PER_TICK)
    commands, and a timer no visit has seen yet (a delayed task or lease
    added on a queue no live worker claims from) is met within
    max(SWEEP_SECONDS, queues / SWEEP_PER_TICK) seconds. The leases of a
    worker that died are met sooner: its queues are visited as soon as its
    heartbeat is LATE_AFTER late (one ZRANGEBYSCORE a tick, one HGET per
    worker that goes late)."""

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.clock = clock
        self.due: dict[str, float] = {}
        """Queue name -> clock time its next known timer is due (inf: none)."""
        self.cursor = ""
        """The last queue the slices reached (by name: queues come and go)."""
        self.late: set[str] = set()
        """Workers already taken for dead (their queues visited once)."""

    def slice_size(self, queues: int) -> int:
        ticks = max(1.0, SWEEP_SECONDS / self.interval)
        return min(queues, max(1, min(SWEEP_PER_TICK, math.ceil(queues / ticks))))

    def tick(self, client, keys: Keys, prune: bool = False) -> dict[str, int]:
        """One tick; returns totals as :func:`tick` does."""
        client = as_taskq_client(client)
        names = queue_names(client, keys)
        known = set(names)
        now = self.clock()
        chosen = {n for n in names if self.due.get(n, -math.inf) <= now}
        chosen.update(self.queues_of_late_workers(client, keys) & known)
        if names:
            size = self.slice_size(len(names))
            start = bisect.bisect_right(names, self.cursor) % len(names)
            part = (names + names)[start:start + size]
            chosen.update(part)
            self.cursor = part[-1]
        picked = sorted(chosen)
        totals, timers = visit(client, keys, picked)
        now = self.clock()
        self.due = {n: t for n, t in self.due.items() if n in known}
        for name, ms in zip(picked, timers):
            self.due[name] = math.inf if ms < 0 else now + ms / 1000.0
        if prune:
            totals["pruned"] = prune_all(client, keys, names)
        return totals

    def queues_of_late_workers(self, client, keys: Keys) -> set[str]:
        """The queues of workers whose heartbeat went late since the last tick."""
        now_ms = int(time.time() * 1000)  # the registry's clock (worker_registry)
        late = {w.decode() if isinstance(w, bytes) else w for w in client.zrangebyscore(
            keys.workers, now_ms - FORGET_AFTER * 1000, now_ms - LATE_AFTER * 1000)}
        new, self.late = late - self.late, late
        out: set[str] = set()
        for wid in sorted(new):
            try:
                out.update(json.loads(client.hget(keys.worker(wid), "queues") or "[]"))
            except (ValueError, TypeError):
                pass
        return out


def prune_all(client, keys: Keys, names: list[str], defaults: Retention | None = None) -> int:
    """Enforce retention (taskq.retention: each queue's settings, else
    ``defaults``, else the TASKQ_KEEP_* settings) and drop old analytics
    buckets; returns tasks removed. The workflow queue takes no defaults:
    its steps go with their workflow (taskq.workflows.sweep)."""
    client = as_taskq_client(client)
    defaults = retention.from_env() if defaults is None else defaults
    removed, left = 0, list(names)
    until = time.monotonic() + PRUNE_BUDGET
    for _ in range(ROUNDS):
        pipe = client.pipeline(transaction=False)
        for name in left:
            own = retention.NONE if name == WORKFLOW_QUEUE else defaults
            call(pipe, "prune", keys.queue(name), *own.script_args(), REAP_LIMIT,
                 MINUTE_BUCKETS_KEPT, HOUR_BUCKETS_KEPT, retention.TOMBSTONE_SECONDS * 1000,
                 retention.TOMBSTONE_COUNT)
        replies = execute(pipe) if left else []
        removed += sum(reply[1] for reply in replies)
        left = [name for name, reply in zip(left, replies) if reply[1] >= REAP_LIMIT]
        if not left or time.monotonic() > until:
            break
    return removed


UPKEEP: list[Callable] = []
"""Extra upkeep passes ``upkeep(client, keys)`` that other features add
(the per-project lease reaper, webhook delivery); the upkeep loop (workers/upkeep.py) runs them
after the built-in upkeep, on the leader only."""
