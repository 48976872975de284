"""The upkeep loop of the ``taskq scheduler`` process: one active leader
runs the engine's upkeep every second, and fires schedules as they come due.

Several scheduler processes may run (one per dyno, say); taskq.leadership
elects the one that acts. Upkeep passes are idempotent, so two leaders
overlapping for a moment (a paused process resuming after its lock expired)
is harmless.

The passes: taskq.maintenance.Sweep (reap expired leases, promote due tasks,
deliver cross-queue dependency outcomes: each queue visited when its next
timer is due and at least every SWEEP_SECONDS in slices, so an idle tick's
cost does not grow with the queue count), retention once a minute, the worker
registry sweep, then every pass registered in taskq.maintenance.UPKEEP (the
per-project lease reaper, webhook delivery), and with --rq-scheduler the
hand-over of rq-scheduler's due jobs (taskq.rq.scheduler). Between ticks the leader
sleeps until the earliest due schedule when that comes first, and fires
schedules alone then (taskq.schedules.wake: woken early when a change makes
a schedule due sooner).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Callable

import redis

import taskq.projects.store  # noqa: F401  (registers the per-project lease reaper in maintenance.UPKEEP)
import taskq.schedules  # noqa: F401  (registers schedule firing in maintenance.UPKEEP)
import taskq.webhooks.store  # noqa: F401  (registers webhook delivery in maintenance.UPKEEP)
import taskq.workflows  # noqa: F401  (registers the workflow sweep in maintenance.UPKEEP)
from taskq import maintenance
from taskq.connection import as_taskq_client
from taskq.errors import is_oom
from taskq.keys import DEFAULT_PREFIX, Keys, ScheduleKeys
from taskq.leadership import LOCK_TTL, Leadership
from taskq.schedules import firing, wake
from taskq.schema import SchemaError
from taskq.startup import ready
from taskq.worker_registry import WorkerRegistry

from .outage import OUTAGE_ERRORS, Outage

log = logging.getLogger("taskq.scheduler")


class Upkeep:
    def __init__(self, redis, prefix: str | None = None, interval: float = 1.0,
                 lock_ttl: float = LOCK_TTL, scheduler_id: str | None = None,
                 url: str | None = None, rq_scheduler: bool = False):
        self.redis = as_taskq_client(redis)
        self.keys = Keys(prefix or DEFAULT_PREFIX)
        self.interval = interval
        self.lock_ttl = lock_ttl
        self.id = scheduler_id or f"scheduler-{socket.gethostname()}-{os.getpid()}"
        self.leadership = Leadership(self.redis, self.keys, self.id, lock_ttl)
        self.registry = WorkerRegistry(self.redis, self.keys)
        self.is_leader = False
        self._last_prune = 0.0
        self.sweep = maintenance.Sweep(interval)
        self.until_due: float | None = None
        """Seconds from the last firing pass to the earliest due schedule."""
        self.outage = Outage(log, f"scheduler {self.id}", url)
        self.refused: Exception | None = None
        """A write a full Redis refused during this round (see _unless_full)."""
        self.rq_mover = None
        if rq_scheduler:  # rq-scheduler's due jobs become taskq tasks (taskq.rq.scheduler)
            from taskq.rq.scheduler import Mover

            self.rq_mover = Mover(self.redis)

    def _say(self, line: str) -> None:
        log.warning("scheduler %s: %s", self.id, line)

    def tick(self) -> bool:
        """One round: claim or renew leadership, and lead if we hold it."""
        was_leader, self.is_leader = self.is_leader, self.leadership.acquire()
        if self.is_leader != was_leader:
            log.info("scheduler %s is %s", self.id, "the leader" if self.is_leader else "standby")
            # another leader acted meanwhile: what this one remembers is stale
            self.sweep = maintenance.Sweep(self.interval)
        if not self.is_leader:
            return False
        started = time.monotonic()
        prune = started - self._last_prune >= maintenance.PRUNE_EVERY
        totals = self.sweep.tick(self.redis, self.keys, prune=prune)
        if prune:
            self._last_prune = started
        offline = self._unless_full(self.registry.sweep)
        for upkeep in maintenance.UPKEEP:
            result = self._unless_full(upkeep, self.redis, self.keys)
            if upkeep is firing.upkeep:
                self.until_due = result
        if self.rq_mover is not None:
            self._unless_full(self.rq_mover.upkeep)
        if any(totals.values()) or offline:
            log.info("upkeep %s, workers gone offline: %s", totals, offline or "none")
        return True

    def _unless_full(self, upkeep: Callable, *args):
        """Run an upkeep pass; a full Redis refusing its writes is noted
        (self.refused) and the next pass runs: reaping and retention, which
        a full Redis lets through, free it (taskq/lua/includes/full.lua)."""
        try:
            return upkeep(*args)
        except redis.RedisError as exc:
            if not is_oom(exc):
                raise
            self.refused = exc
            return None

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Tick every interval until ``should_stop``. Raises SchemaError
        (data in another key schema) before the first tick."""
        checked = False  # Redis loaded, data in this release's key schema
        try:
            next_tick = time.monotonic()
            while not should_stop():
                started = time.monotonic()
                wait = None
                try:
                    if not checked:
                        if not ready(self.redis, self.keys.prefix, say=self._say,
                                     should_stop=should_stop):
                            break
                        checked = True
                        log.info("scheduler %s started (lock TTL %.1f s)", self.id,
                                 self.lock_ttl)
                    self.refused = None
                    if started >= next_tick:
                        next_tick = started + self.interval
                        self.tick()
                    elif self.is_leader:  # a schedule came due before the next tick
                        self.until_due = self._unless_full(firing.upkeep, self.redis, self.keys)
                    if self.refused is not None:  # full: one line, and the upkeep goes on
                        self.outage.lost(self.refused, advance=False)
                    else:
                        self.outage.ok()
                except OUTAGE_ERRORS as exc:  # one line, then back off until Redis is back
                    wrong = self.outage.unusable(exc)
                    if wrong is not None:
                        raise wrong from None
                    wait = self.outage.lost(exc)
                    self.is_leader = False
                except SchemaError:
                    raise
                except Exception as exc:  # nor must a bug in one pass end the scheduler
                    wrong = self.outage.unusable(exc)
                    if wrong is not None:  # ...unless nothing ever worked: a wrong REDIS_URL
                        raise wrong from None
                    log.exception("scheduler tick failed")
                    self.is_leader = False
                if wait is not None:  # Redis is down: back off, then tick
                    _sleep(max(0.0, wait - (time.monotonic() - started)), should_stop)
                    next_tick = time.monotonic()
                elif self.is_leader:
                    self._wait(next_tick - time.monotonic(), should_stop)
                else:
                    _sleep(next_tick - time.monotonic(), should_stop)
        finally:
            try:
                if checked and not self.outage.down:
                    self.leadership.release()
            except Exception:
                pass
            if checked:
                log.info("scheduler %s stopped", self.id)

    def _wait(self, interval_left: float, should_stop: Callable[[], bool]) -> None:
        """The leader's sleep: to the next tick or the earliest due schedule
        (woken early by a schedule made due sooner); a firing pass follows
        every wake and tells the next sleep."""
        seconds = wake.sleep_seconds(interval_left, self.until_due)
        try:
            wake.wait(self.redis, ScheduleKeys(self.keys.prefix), seconds, should_stop)
        except OUTAGE_ERRORS:  # the next round meets the outage and says so
            _sleep(seconds, should_stop)


def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    """Sleep, waking early for a stop (a backoff may last seconds)."""
    until = time.monotonic() + seconds
    while not should_stop():
        left = until - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.25))
