"""The scheduler process: one active leader runs the upkeep every second.

Several schedulers may run (one per dyno, say). Each tick, every instance
tries to take or renew a lock with a TTL (taskq/lua/leader-1.lua); only the
holder runs the steps. If the leader dies, its lock expires and a standby
takes over within LOCK_TTL + one interval. A leader that stops cleanly gives
the lock up at once. Upkeep steps are idempotent, so two leaders overlapping
for a moment (a paused process resuming after its lock expired) is harmless.

The steps: taskq.maintenance.tick (reap expired leases, promote due tasks,
deliver cross-queue dependency outcomes), retention once a minute, the worker
registry sweep, then every step registered in taskq.maintenance.STEPS
(schedules, webhook delivery).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Callable

import taskq.projects  # noqa: F401  (registers the per-project lease reaper in maintenance.STEPS)
import taskq.webhooks  # noqa: F401  (registers webhook delivery in maintenance.STEPS)
from taskq import maintenance
from taskq.keys import DEFAULT_PREFIX, Keys
from taskq.scripts import call_with_keys
from taskq.worker_registry import WorkerRegistry

log = logging.getLogger("taskq.scheduler")

LOCK_TTL = 5.0
"""Seconds a leader's lock lives without renewal: a standby takes over
this long (plus one interval) after the leader dies."""


class Scheduler:
    def __init__(self, redis, prefix: str | None = None, interval: float = 1.0,
                 lock_ttl: float = LOCK_TTL, scheduler_id: str | None = None):
        self.redis = redis
        self.keys = Keys(prefix or DEFAULT_PREFIX)
        self.interval = interval
        self.lock_ttl = lock_ttl
        self.id = scheduler_id or f"scheduler-{socket.gethostname()}-{os.getpid()}"
        self.registry = WorkerRegistry(redis, self.keys)
        self.is_leader = False
        self._last_prune = 0.0

    def _lock(self, action: str) -> bool:
        held = call_with_keys(self.redis, "leader", [self.keys.scheduler_leader],
                              self.id, int(self.lock_ttl * 1000), action)
        return bool(held)

    def tick(self) -> bool:
        """One round: claim or renew leadership, and lead if we hold it."""
        now_ms = int(time.time() * 1000)
        self.redis.zadd(self.keys.schedulers, {self.id: now_ms})
        was_leader, self.is_leader = self.is_leader, self._lock("acquire")
        if self.is_leader != was_leader:
            log.info("scheduler %s is %s", self.id, "the leader" if self.is_leader else "standby")
        if not self.is_leader:
            return False
        started = time.monotonic()
        prune = started - self._last_prune >= maintenance.PRUNE_EVERY
        totals = maintenance.tick(self.redis, self.keys, prune=prune)
        if prune:
            self._last_prune = started
        offline = self.registry.sweep()
        for step in maintenance.STEPS:
            step(self.redis, self.keys)
        if any(totals.values()) or offline:
            log.info("upkeep %s, workers gone offline: %s", totals, offline or "none")
        return True

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        log.info("scheduler %s started (lock TTL %.1f s)", self.id, self.lock_ttl)
        try:
            while not should_stop():
                started = time.monotonic()
                try:
                    self.tick()
                except Exception:  # a Redis blip must not end the scheduler
                    log.exception("scheduler tick failed")
                    self.is_leader = False
                time.sleep(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            try:
                self._lock("release")
                self.redis.zrem(self.keys.schedulers, self.id)
            except Exception:
                pass
            log.info("scheduler %s stopped", self.id)


def status(redis, keys: Keys, ttl: float = LOCK_TTL * 3) -> dict:
    """Who leads and how many schedulers are alive (for system status views)."""
    now_ms = int(time.time() * 1000)
    leader = redis.get(keys.scheduler_leader)
    alive = redis.zcount(keys.schedulers, now_ms - ttl * 1000, "+inf")
    return {"leader_id": leader.decode() if isinstance(leader, bytes) else leader,
            "instance_count": int(alive)}
