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

Read from the head of each priority band, the figure is a lower bound by
at most the promotion lag: a delayed task promoted after its due time
joins its band behind tasks that became ready before the promotion, and
until it reaches the head it is counted by theirs, which are younger by
no more than how late it was promoted (the scheduler promotes every
second, a claim at once).

Cost per queue: one read-only script (taskq/lua/latency-30.lua) doing
O(log n) work per non-empty priority band, at most MAX_BANDS bands; all
queues' calls go in one pipeline. Served reads the worker registry once.

Served: a registered worker that is not offline listens to the queue, or
an HTTP agent serves it: it asked the queue for work in the last
:data:`POLL_SERVES` seconds, or holds a live lease there (TaskDriver's
agents take tasks on demand and never register, and may work on one for
minutes between calls; without this a project's queue they drain reads as
served by no one). Each next-task call marks the queue (:func:`note_poll`,
one SET with a TTL, sent in a round trip the call makes anyway); the mark
and the live leases are read in the same pipeline as the latencies.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from .. import lua
from ..keys import Keys
from ..worker_registry import WorkerInfo, WorkerRegistry

POLL_SERVES = 60
"""Seconds an HTTP agent's request for work counts as serving its queue:
agents poll (TaskDriver's clients every few seconds when idle); one that
stopped a minute ago no longer serves it."""
MAX_BANDS = 64
"""Priority bands the script visits per queue; beyond that (tasks of more
than 64 distinct priorities ready at once) the latency is a lower bound."""


def note_poll(redis, keys: Keys, name: str) -> None:
    """An HTTP agent asked queue ``name`` for work: it counts as served for
    the next POLL_SERVES seconds (``redis`` may be a pipeline)."""
    redis.set(keys.queue(name).polled, "1", ex=POLL_SERVES)


def add_reads(pipe, keys: Keys, names: Sequence[str]) -> None:
    """Queue on ``pipe`` what :func:`take_reads` reads back, so a caller
    reading other facts of the same queues sends one round trip for all."""
    for name in names:
        qk = keys.queue(name)
        lua.call(pipe, "latency", qk, MAX_BANDS)
        pipe.exists(qk.polled)


def take_reads(names: Sequence[str], replies: Sequence) -> dict[str, tuple[int, int, bool]]:
    """queue -> (ms its oldest runnable task became ready or -1, Redis now
    ms, served by an agent: polled lately or a lease live), from the replies
    of :func:`add_reads`."""
    return {n: (int(r[0]), int(r[1]), bool(p) or int(r[3]) == 1)
            for n, r, p in zip(names, replies[::2], replies[1::2])}


def _read(redis, keys: Keys, names: Sequence[str]) -> dict[str, tuple[int, int, bool]]:
    """:func:`take_reads` of all ``names`` in one round trip."""
    if not names:
        return {}
    pipe = redis.pipeline(transaction=False)
    add_reads(pipe, keys, names)
    return take_reads(names, lua.execute(pipe))


def ready_since(redis, keys: Keys, names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """queue -> (ms its oldest runnable task became ready or -1, Redis now ms)."""
    return {n: (since, now) for n, (since, now, _) in _read(redis, keys, names).items()}


def _seconds(since: int, now: int) -> float:
    return round(max(0, now - since) / 1000, 3) if since >= 0 else 0.0


def latencies(redis, keys: Keys, names: Sequence[str]) -> dict[str, float]:
    """queue -> latency in seconds (0.0 when nothing is ready to run),
    measured on Redis's clock, as every engine timestamp is."""
    return {n: _seconds(since, now) for n, (since, now) in ready_since(redis, keys, names).items()}


def served(workers: Iterable[WorkerInfo], names: Sequence[str],
           by_agents: Iterable[str] = ()) -> dict[str, bool]:
    """queue -> whether a registered worker that is not offline listens to
    it, or it is in ``by_agents`` (queues HTTP agents serve, see the module)."""
    live = {q for w in workers if w.status != "offline" for q in w.queues} | set(by_agents)
    return {n: n in live for n in names}


def queue_latency(redis, keys: Keys, names: Sequence[str],
                  workers: Iterable[WorkerInfo] | None = None) -> dict[str, dict]:
    """queue -> {"latency_seconds": float, "served": bool}: what every view
    shows (``taskq info``, the dashboard, /metrics, the system status).
    ``workers``: the registry's entries when the caller has read them."""
    found = WorkerRegistry(redis, keys).all() if workers is None else workers
    return shown(_read(redis, keys, names), found)


def shown(read: dict[str, tuple[int, int, bool]], workers: Iterable[WorkerInfo]) -> dict[str, dict]:
    """What :func:`queue_latency` answers, from :func:`take_reads`' result."""
    names = list(read)
    up = served(workers, names, [n for n, (_, _, agents) in read.items() if agents])
    return {n: {"latency_seconds": _seconds(since, now), "served": up[n]}
            for n, (since, now, _) in read.items()}
