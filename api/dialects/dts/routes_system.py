"""DTS system views: /api/system/status and /api/system/metrics."""

from __future__ import annotations

from ...auth import secured
from ...blueprint import Blueprint
from ...envelope import ok
from ...schemas import envelope
from ...app_state import state
from .schemas_system import METRIC_NAMES, MetricsArgsSchema, MetricsMetaSchema, MetricsSchema, SystemStatusSchema

blp = Blueprint("System", __name__, description="System: health of the parts, counts and time series")


@blp.route("/system/status", methods=["GET"])
@secured("system:read")
@blp.response(200, envelope(SystemStatusSchema))
def system_status():
    """Components, task counts (today's from the engine's hourly counters) and
    ready-queue depth by priority band (high 8-10, normal 4-7, low 1-3)."""
    return ok(state().system.status())


@blp.route("/system/metrics", methods=["GET"])
@secured("system:read")
@blp.arguments(MetricsArgsSchema, location="query")
@blp.response(200, envelope(MetricsSchema, meta_schema=MetricsMetaSchema))
def system_metrics(args):
    """Completions, error rate and mean run time (seconds) per interval, from
    the engine's per-minute and per-hour counters across all queues."""
    wanted = [m.strip() for m in args.get("metrics", "").split(",") if m.strip()] or list(METRIC_NAMES)
    series, meta = state().system.metrics(args["period"], list(dict.fromkeys(wanted)))
    return ok(series, meta)
