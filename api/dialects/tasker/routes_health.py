"""Health and metrics: /tasker/health/ready and /live never ask for a
credential (api.middleware serves them as open paths, so a bad token is not
even read); /health/status asks for tasker.health_status:index unless
TASKQ_TASKER_HEALTH_STATUS_AUTH is false; /metrics is the Prometheus text
of /metrics behind tasker.metrics:index."""

from __future__ import annotations

import time

from taskq import __version__

from ...auth import SECURITY
from ...envelope import now_iso
from ...metrics import exposition
from ...app_state import state as app_state
from . import access
from .access import blueprint, permission
from .schemas_health import TaskerLiveSchema, TaskerReadySchema, TaskerStatusSchema
from .runtime import state

blp = blueprint("Health", "Readiness, liveness, detailed status and Prometheus metrics")

PROMETHEUS = {"text/plain; version=0.0.4": {"schema": {"type": "string"}}}


def _uptime() -> int:
    return int(time.time() - app_state().started)


@blp.route("/health/ready", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, TaskerReadySchema)
@blp.alt_response(503, schema=TaskerReadySchema, description="Redis does not answer")
def ready():
    """Ready when Redis answers (503 otherwise). No credential needed."""
    redis = state().workflows.redis_check()
    ok = redis["status"] == "healthy"
    body = {"ready": ok, "status": "ready" if ok else "not_ready", "timestamp": now_iso(),
            "checks": {"redis": redis}}
    return body, 200 if ok else 503


@blp.route("/health/live", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, TaskerLiveSchema)
def live():
    """This process answers (it does not ask Redis). No credential needed."""
    return {"alive": True, "status": "alive", "timestamp": now_iso(), "uptime_seconds": _uptime()}


@blp.route("/health/status", methods=["GET"])
@blp.doc(security=SECURITY + [{}], responses={
    "401": "UNAUTHORIZED", "403": "FORBIDDEN", "429": "TOO_MANY_REQUESTS"})
@blp.response(200, TaskerStatusSchema)
@blp.alt_response(503, schema=TaskerStatusSchema, description="Redis does not answer")
def status():
    """Redis, workers online, handlers published and task counts. Needs
    tasker.health_status:index unless TASKQ_TASKER_HEALTH_STATUS_AUTH=false."""
    tasker = state()
    if tasker.health_status_auth:
        access.check("tasker.health_status:index")
    body = {"timestamp": now_iso(), "version": __version__, "uptime_seconds": _uptime(),
            **tasker.workflows.status()}
    return body, 503 if body["status"] == "unhealthy" else 200


@blp.route("/metrics", methods=["GET"])
@permission("tasker.metrics:index")
@blp.doc(responses={"200": {"description": "Prometheus text exposition", "content": PROMETHEUS}})
def metrics():
    """The Prometheus text /metrics serves: HTTP metrics and the engine's
    queue, task and worker families (the `workflows` queue holds every step)."""
    return exposition()
