"""Periodic upkeep of every known queue: promote due delayed tasks, reap
expired leases, deliver cross-queue dependency outcomes, enforce retention.

``taskq scheduler`` (workers/upkeep.py) runs :func:`tick` every second
on the elected leader, then every step in STEPS.
"""

from __future__ import annotations

from typing import Callable

from . import deps
from .connection import as_taskq_client
from .keys import Keys
from .lua import call, execute

REAP_LIMIT = 1000
"""Tasks promoted / leases reaped per queue per tick, at most."""
RETENTION_SECONDS = 7 * 24 * 3600
"""Finished tasks are deleted this long after they end."""
MINUTE_BUCKETS_KEPT = 26 * 60
"""Per-minute analytics buckets kept (a day and a bit)."""
HOUR_BUCKETS_KEPT = 35 * 24
"""Per-hour analytics buckets kept (a month and a bit)."""
PRUNE_EVERY = 60.0
"""Seconds between retention passes."""


def queue_names(client, keys: Keys) -> list[str]:
    return sorted(as_taskq_client(client).smembers(keys.queues))


def tick(client, keys: Keys, prune: bool = False) -> dict[str, int]:
    """One pass over every queue; returns totals for logging and tests.
    ``client`` is any redis-py client (see taskq.connection)."""
    client = as_taskq_client(client)
    totals = {"requeued": 0, "failed": 0, "promoted": 0, "delivered": 0, "pruned": 0}
    names = queue_names(client, keys)
    pipe = client.pipeline(transaction=False)
    for name in names:
        call(pipe, "reap", keys.queue(name), REAP_LIMIT)
    for name, reply in zip(names, execute(pipe)):
        _, requeued, failed, promoted, _sent = reply
        totals["requeued"] += requeued
        totals["failed"] += failed
        totals["promoted"] += promoted
        totals["delivered"] += deps.drain_outbox(client, keys, name)
    if prune:
        totals["pruned"] = prune_all(client, keys, names)
    return totals


def prune_all(client, keys: Keys, names: list[str], retention: float = RETENTION_SECONDS) -> int:
    """Delete tasks that ended more than ``retention`` seconds ago (by
    Redis's clock) and old analytics buckets; returns tasks deleted."""
    client = as_taskq_client(client)
    pipe = client.pipeline(transaction=False)
    for name in names:
        call(pipe, "prune", keys.queue(name), int(retention * 1000), REAP_LIMIT,
             MINUTE_BUCKETS_KEPT, HOUR_BUCKETS_KEPT)
    return sum(reply[1] for reply in execute(pipe))


STEPS: list[Callable] = []
"""Extra per-tick steps ``step(client, keys)`` that other features add
(the per-project lease reaper, webhook delivery); the upkeep loop (workers/upkeep.py) runs them
after the built-in upkeep, on the leader only."""
