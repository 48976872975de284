"""A stopped worker drops out of every view after FORGET_AFTER, as the
registry's sweep removes it, even when no scheduler sweeps."""

from __future__ import annotations

import time

from taskq.monitoring import overview
from taskq.worker_registry import FORGET_AFTER, WorkerRegistry


def test_workers_silent_past_forget_after_are_not_listed(r, keys):
    reg = WorkerRegistry(r, keys)
    reg.register("gone", ["default"])
    reg.register("here", ["default"])
    reg.deregister("here")  # offline, but recent: still listed
    r.persist(keys.worker("gone"))  # an entry that lost its TTL
    old = int((time.time() - FORGET_AFTER - 5) * 1000)
    r.zadd(keys.workers, {"gone": old})
    r.hset(keys.worker("gone"), "last_heartbeat", old)
    assert [w.id for w in reg.all()] == ["here"]
    assert [w["id"] for w in overview.workers(r, keys)] == ["here"]


def test_deregister_of_an_expired_entry_keeps_a_ttl(r, keys):
    reg = WorkerRegistry(r, keys)
    reg.deregister("slept")  # its entry expired while the process was stopped
    assert 0 < r.pttl(keys.worker("slept")) <= FORGET_AFTER * 1000
