"""Shared helpers of the race tests: consistent snapshots of a queue,
a checker thread, and running racing threads."""

from __future__ import annotations

import threading
import time

import redis

from taskq.connection import client_from_url

from taskq import Queue
from taskq.keys import STATUSES

ACTIVE = ("queued", "delayed", "blocked", "running")


# -- helpers ---------------------------------------------------------------

def snapshot(q: Queue, ids) -> dict:
    """One atomic view (MULTI/EXEC) of every status index, the `all` index
    and the status field of each task in ``ids``."""
    ids = list(ids)
    pipe = q.redis.pipeline(transaction=True)
    for s in STATUSES:
        pipe.zrange(q.qkeys.status_index(s), 0, -1)
    pipe.zrange(q.qkeys.all, 0, -1)
    for tid in ids:
        pipe.hget(q.qkeys.task(tid), "status")
    replies = pipe.execute()
    n = len(STATUSES)
    return {
        "index": {s: set(m) for s, m in zip(STATUSES, replies[:n])},
        "all": set(replies[n]),
        "status": dict(zip(ids, replies[n + 1:])),
    }


def inconsistencies(snap: dict) -> list[str]:
    """What is wrong in a snapshot: a task in no index or in several, an
    index that disagrees with the task's hash, an index entry that is not in
    `all` (or the other way round)."""
    problems = []
    for tid, status in snap["status"].items():
        holders = [s for s in STATUSES if tid in snap["index"][s]]
        if holders != [status]:
            problems.append(f"{tid}: hash says {status}, indexes {holders}")
    indexed = set().union(*snap["index"].values())
    if indexed != snap["all"]:
        problems.append(f"status indexes and `all` differ by {sorted(indexed ^ snap['all'])[:5]}")
    return problems


def assert_consistent(q: Queue, ids) -> dict:
    snap = snapshot(q, ids)
    assert inconsistencies(snap) == []
    assert snap["all"] == set(ids)
    return snap


class Checker(threading.Thread):
    """Takes atomic snapshots while a race runs and keeps any inconsistency
    it sees: the invariant must hold at every moment, not only at the end."""

    def __init__(self, q: Queue, ids):
        super().__init__(daemon=True)
        self.q, self.ids = q, list(ids)
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.snapshots = 0

    def run(self):
        while not self.stop.is_set():
            self.problems += inconsistencies(snapshot(self.q, self.ids))
            self.snapshots += 1
            time.sleep(0.005)

    def finish(self) -> list[str]:
        self.stop.set()
        self.join(10)
        return self.problems


def run_threads(targets, timeout: float = 30) -> None:
    """Run callables in threads; re-raise the first exception any of them hit."""
    errors: list[BaseException] = []

    def wrap(fn):
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(fn,), daemon=True) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a racing thread did not finish in time"
    if errors:
        raise errors[0]


def own_client(url: str) -> redis.Redis:
    """A client with its own connection pool, so racing threads really
    arrive at Redis concurrently instead of queueing for one connection."""
    return client_from_url(url)
