"""Workflow analytics for the Tasker dialect: the reports of
taskq.workflows.analytics, and a cache of each answer in Redis (so every
web process shares it), keyed by the report and its query."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from taskq.keys import WorkflowKeys
from taskq.workflows import analytics


class AnalyticsService:
    def __init__(self, redis, prefix: str):
        self.redis, self.prefix = redis, prefix

    @staticmethod
    def check_scope(namespace: str | None, name: str | None, version: str | None) -> dict:
        """The report's scope (taskq.workflows.analytics.check_scope)."""
        return analytics.check_scope(namespace, name, version)

    def cached(self, report: str, query: dict, ttl: float, now: float,
               compute: Callable[[float], Any]) -> Any:
        """The report from the shared cache when younger than ``ttl`` seconds
        at ``now``, else ``compute(now)``, stored for ``ttl`` seconds."""
        digest = hashlib.sha256(json.dumps(query, sort_keys=True).encode()).hexdigest()[:32]
        key = WorkflowKeys(self.prefix).analytics_cache(report, digest)
        hit = self.redis.get(key)
        if hit is not None:
            entry = json.loads(hit)
            if 0 <= now - entry["at"] < ttl:
                return entry["doc"]
        doc = compute(now)
        self.redis.set(key, json.dumps({"at": now, "doc": doc}), ex=ttl)
        return doc

    def performance(self, now: float) -> dict:
        return analytics.performance(self.redis, now, self.prefix)

    def bottlenecks(self, period_hours: int, now: float, **scope) -> dict:
        return analytics.bottlenecks(self.redis, period_hours=period_hours, now=now,
                                     prefix=self.prefix, **scope)
