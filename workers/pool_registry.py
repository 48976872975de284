"""The pool worker's entry in the worker registry and its published
workflow handlers, and how both ride out a full Redis.

A full Redis (maxmemory under noeviction) refuses these writes, but still
takes the transitions that drain work (taskq/lua/includes/full.lua): a
worker that cannot register or heartbeat then says once that Redis is
full, goes on claiming and completing, and registers (and publishes its
handlers) as soon as a write goes through again.
"""

from __future__ import annotations

import logging

import redis

from taskq import __version__
from taskq.errors import is_oom
from taskq.startup import ready
from taskq.workflows import publish

from .outage import OUTAGE_ERRORS

log = logging.getLogger("taskq.worker")


class RegistryMixin:
    """For PoolWorker: needs redis, keys, registry, worker_id, queues, tags,
    handlers, outage, _stop, _published_after and _unregistered."""

    def _register(self) -> bool:
        """Enter the worker registry, waiting for Redis as long as it takes
        (not for a full one: see the module); False when a stop came first."""
        while not self._stop.is_set():
            try:
                # Redis loaded, data in this release's key schema (SchemaError if not)
                if not ready(self.redis, self.keys.prefix, say=self._say,
                             should_stop=self._stop.is_set):
                    return False
                self._enter_registry()
                self.outage.ok()
                self._publish_handlers()
                return True
            except redis.RedisError as exc:
                wrong = self.outage.unusable(exc)
                if wrong is not None:
                    raise wrong from None
                if not isinstance(exc, OUTAGE_ERRORS):
                    raise
                if is_oom(exc):  # full: work anyway, register once writes go through
                    self.outage.lost(exc)
                    self._unregistered = True
                    return True
                self.outage.pause(self.outage.lost(exc), self._stop.is_set)
        return False

    def _enter_registry(self) -> None:
        self.registry.register(self.worker_id, self.queues, self.tags, __version__, kind="pool")
        self._unregistered = False

    def _say(self, line: str) -> None:
        log.warning("worker %s: %s", self.worker_id, line)

    def _publish_handlers(self) -> None:
        """Publish the workflow handlers at start and after each outage
        (a restarted Redis may have lost them); a no-op otherwise, and
        put off while Redis is full."""
        if self.handlers is None or self._published_after == self.outage.ended:
            return
        ended = self.outage.ended
        try:
            n = publish(self.redis, self.handlers, prefix=self.keys.prefix)
        except redis.RedisError as exc:
            if not is_oom(exc):
                raise
            return  # tried again at the next step; the registry heartbeat says it is full
        self._published_after = ended
        log.info("worker %s: published %d workflow handler(s)", self.worker_id, n)
