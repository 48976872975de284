"""An idle worker's wait for work: block on its queues' wake keys.

On one Redis that is one BLPOP over every wake key. On a Redis Cluster one
BLPOP may only name keys of one slot, and queues of different names live in
different slots (often on different masters). :class:`SlotWake` then keeps
one connection per slot its queues use, each with one BLPOP outstanding on
that slot's wake keys, and waits on all of their sockets at once with
select(): a wake on any queue ends the wait at once, in one thread, with no
polling. A BLPOP still outstanding when the wait ends stays outstanding;
the next wait reads its reply first. So a busy worker may hold one wake
token per slot meant for an idle peer: that peer sees the work within its
own WAKE_TIMEOUT, as with a lost wake on one Redis.
"""

from __future__ import annotations

import select
import time
from typing import Any

from redis.exceptions import AskError, ClusterDownError, MovedError, TryAgainError

from taskq.cluster import is_cluster

MIN_BLOCK = 0.01
"""A BLPOP timeout of 0 blocks forever: a wait with less left than this ends."""
SELECT_MARGIN = 0.25
"""Seconds the select outlasts the BLPOP timeout: a reply that is due
arrives within it, so a wait rarely ends with a BLPOP still outstanding."""


def slot_groups(client: Any, keys: list[str]) -> list[list[str]]:
    """``keys`` grouped by cluster slot, in first-seen order (one group on
    one Redis)."""
    if not is_cluster(client):
        return [list(keys)]
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(client.keyslot(key), []).append(key)
    return list(groups.values())


class SlotWake:
    """``wait(timeout)`` until a token arrives on any of ``keys`` (a cluster
    client's wake keys spanning several slots). Connection errors are
    raised, as from any Redis call; the next wait connects again."""

    def __init__(self, cluster: Any, keys: list[str]):
        self.cluster = cluster
        self.keys = list(keys)
        self._waits: list[_Wait] = []

    def wait(self, timeout: float) -> bool:
        """True when a wake token was popped, False when the wait timed out."""
        if not self._waits:
            self._waits = [_Wait(self.cluster, group) for group in slot_groups(self.cluster, self.keys)]
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left < MIN_BLOCK:
                    return False
                for w in self._waits:
                    w.start(left)
                ready = select.select([w.fileno() for w in self._waits], [], [],
                                      left + SELECT_MARGIN)[0]
                if not ready:
                    return False
                woken = False
                for w in self._waits:
                    if w.fileno() in ready:
                        woken = w.finish() or woken
                if woken:
                    return True
                # only timed-out BLPOPs (maybe left from an earlier wait): go on
        except (MovedError, AskError, TryAgainError, ClusterDownError):
            # a slot moved: wait on the new map next time
            self.close()
            self.cluster.nodes_manager.initialize()
            return True  # the caller claims at once, which finds any work
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for w in self._waits:
            w.close()
        self._waits = []


class _Wait:
    """One slot's BLPOP on a connection of its own."""

    def __init__(self, cluster: Any, keys: list[str]):
        node = cluster.nodes_manager.get_node_from_slot(cluster.keyslot(keys[0]))
        self.pool = cluster.get_redis_connection(node).connection_pool
        self.conn = self.pool.get_connection()
        self.keys = keys
        self.pending = False

    def start(self, timeout: float) -> None:
        if not self.pending:
            self.conn.send_command("BLPOP", *self.keys, timeout)
            self.pending = True

    def fileno(self) -> int:
        return self.conn._sock.fileno()

    def finish(self) -> bool:
        self.pending = False
        return self.conn.read_response() is not None

    def close(self) -> None:
        if self.pending:  # its reply would be read as the next command's
            self.conn.disconnect()
        self.pool.release(self.conn)
