"""GET /tasker/analytics/performance and /tasker/analytics/bottlenecks.

The reports come from taskq.workflows.analytics through the app's
analytics service (api.services.analytics); each answer is cached in
Redis (so every web process shares it) for the time the Tasker document
gives, keyed by the report and its query: 90 s for performance, 120 s for
bottlenecks. A cached answer is served while younger than that by this
process's clock (``clock``), so a test can move time. Redis unreachable:
503 (api.errors), since the reports are nothing but what Redis holds.
"""

from __future__ import annotations

import time

from marshmallow import RAISE

from . import access
from .schemas_analytics import BottlenecksArgsSchema, BottlenecksSchema, NoArgsSchema, PerformanceSchema
from .runtime import state

blp = access.blueprint("Analytics", "Performance analytics and bottleneck analysis of workflows")

CACHE_SECONDS = {"performance": 90, "bottlenecks": 120}
clock = time.time
"""Seconds since the epoch; the cache's and the reports' notion of now."""


def cached(report: str, query: dict, compute) -> dict:
    """The report from the shared cache when fresh, else computed and stored
    (api.services.analytics)."""
    return state().analytics.cached(report, query, CACHE_SECONDS[report], clock(), compute)


@blp.route("/analytics/performance", methods=["GET"])
@access.permission("tasker.analytics:performance")
@blp.arguments(NoArgsSchema, location="query", unknown=RAISE)
@blp.response(200, PerformanceSchema)
def performance(args):
    """System-wide workflow performance: health score, 1 h / 4 h / 24 h trends,
    counts and processing-time percentiles (cached 90 s)."""
    ts = state()
    return cached("performance", {}, ts.analytics.performance)


@blp.route("/analytics/bottlenecks", methods=["GET"])
@access.permission("tasker.analytics:bottlenecks")
@blp.arguments(BottlenecksArgsSchema, location="query", unknown=RAISE)
@blp.response(200, BottlenecksSchema)
def bottlenecks(args):
    """Slowest handlers and steps, error patterns and recommendations, scoped
    by namespace / name / version, over ``period`` hours (cached 2 min)."""
    ts = state()
    scope = ts.analytics.check_scope(args.get("namespace"), args.get("name"), args.get("version"))
    period = args["period"]
    return cached("bottlenecks", {**scope, "period": period}, lambda now: ts.analytics.bottlenecks(
        period, now, **scope))
