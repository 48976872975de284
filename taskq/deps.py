"""Cross-queue dependencies: the idempotent follow-up calls.

A script touches one queue (one hash tag), so a dependency in another queue
is linked, and its outcome delivered, by separate calls:

1. enqueue records the foreign dependency as unresolved in the dependent's
   queue, then ``link`` runs link_dependent in the dependency's queue; if
   that task has already ended, the outcome is delivered right away.
2. When a task ends, its script writes one outbox entry per foreign
   dependent; ``drain_outbox`` delivers each with resolve_dependency in the
   dependent's queue, then removes the entry. A crash between the two only
   means the entry is delivered again later (by the scheduler), which
   changes nothing the second time.
"""

from __future__ import annotations

import json
from typing import Iterable

from .keys import Keys, queue_of
from .lua import call, execute


def link(client, keys: Keys, pairs: Iterable[tuple[str, str]]) -> None:
    """Link (dependent, dependency) pairs whose queues differ."""
    pairs = list(pairs)
    if not pairs:
        return
    pipe = client.pipeline(transaction=False)
    for dependent, dep in pairs:
        call(pipe, "link_dependent", keys.queue(queue_of(dep)), dep, dependent)
    replies = execute(pipe)
    ended = [(dependent, dep, reply[1])
             for (dependent, dep), reply in zip(pairs, replies) if reply[1] != "pending"]
    deliver(client, keys, ended)


def deliver(client, keys: Keys, items: Iterable[tuple[str, str, str]]) -> None:
    """Deliver (dependent, dependency, outcome) to the dependents' queues,
    then drain whatever outboxes that cascade filled."""
    items = list(items)
    if not items:
        return
    pipe = client.pipeline(transaction=False)
    for dependent, dep, outcome in items:
        call(pipe, "resolve_dependency", keys.queue(queue_of(dependent)), dependent, dep, outcome)
    replies = execute(pipe)
    for queue in {queue_of(d) for (d, _, _), r in zip(items, replies) if r[1]}:
        drain_outbox(client, keys, queue)


def drain_outbox(client, keys: Keys, queue: str, batch: int = 100) -> int:
    """Deliver a queue's pending cross-queue outcomes; returns how many."""
    qk = keys.queue(queue)
    done = 0
    while True:
        entries = client.lrange(qk.outbox, 0, batch - 1)
        if not entries:
            return done
        items = []
        for raw in entries:
            try:
                dependent, dep, outcome = json.loads(raw)
                queue_of(dependent)
                items.append((dependent, dep, outcome))
            except (ValueError, TypeError):
                pass  # not ours to deliver: dropped below
        deliver(client, keys, items)
        pipe = client.pipeline(transaction=False)
        for raw in entries:
            pipe.lrem(qk.outbox, 1, raw)
        pipe.execute()
        done += len(entries)
