"""Queue latency: how long the oldest runnable task of a queue has waited,
and whether any live worker serves the queue.

Counts say how much waits, not for how long, nor whether anyone will take
it: a queue no worker listens to looks like any other. Latency is what
autoscalers act on (Sidekiq's and RQ's autoscalers read the same figure).

Definition: seconds since the oldest task that is ready to run *became*
ready. A task enqueued without a delay is ready from its creation; a
delayed or retried task from its due time (not its creation: a task
scheduled for tomorrow has not waited since today), counted even while it
sits in the delayed zset because no claim has promoted it yet (exactly the
case of a queue nobody serves); a task re-queued by a manual retry, a
release or a reaped lease from that moment. Not counted: delayed tasks not
yet due, blocked tasks (waiting on dependencies) and tasks parked behind a
full concurrency or rate key (more workers would not run them sooner). A
paused queue still reports its latency: its tasks do wait.

Cost per queue: one read-only script (taskq/lua/latency-30.lua) doing
O(log n) work per non-empty priority band, at most MAX_BANDS bands; all
queues' calls go in one pipeline. Served reads the worker registry once.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from .. import lua
from ..keys import Keys
from ..worker_registry import WorkerInfo, WorkerRegistry

MAX_BANDS = 64
"""Priority bands the script visits per queue; beyond that (tasks of more
than 64 distinct priorities ready at once) the latency is a lower bound."""


def ready_since(redis, keys: Keys, names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """queue -> (ms its oldest runnable task became ready or -1, Redis now ms);
    one round trip for all queues."""
    if not names:
        return {}
    pipe = redis.pipeline(transaction=False)
    for name in names:
        lua.call(pipe, "latency", keys.queue(name), MAX_BANDS)
    replies = lua.execute(pipe)
    return {n: (int(r[0]), int(r[1])) for n, r in zip(names, replies)}


def latencies(redis, keys: Keys, names: Sequence[str]) -> dict[str, float]:
    """queue -> latency in seconds (0.0 when nothing is ready to run),
    measured on Redis's clock, as every engine timestamp is."""
    return {n: round(max(0, now - since) / 1000, 3) if since >= 0 else 0.0
            for n, (since, now) in ready_since(redis, keys, names).items()}


def served(workers: Iterable[WorkerInfo], names: Sequence[str]) -> dict[str, bool]:
    """queue -> whether a registered worker that is not offline listens to
    it. HTTP agents (TaskDriver, Tasker) take tasks on demand without
    registering, so their queues read False unless a worker serves them too."""
    live = {q for w in workers if w.status != "offline" for q in w.queues}
    return {n: n in live for n in names}


def queue_latency(redis, keys: Keys, names: Sequence[str],
                  workers: Iterable[WorkerInfo] | None = None) -> dict[str, dict]:
    """queue -> {"latency_seconds": float, "served": bool}: what every view
    shows (``taskq info``, the dashboard, /metrics, the system status).
    ``workers``: the registry's entries when the caller has read them."""
    found = WorkerRegistry(redis, keys).all() if workers is None else workers
    up = served(found, names)
    return {n: {"latency_seconds": s, "served": up[n]}
            for n, s in latencies(redis, keys, names).items()}
