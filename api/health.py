"""Health checks, without credentials: /health and /api/health."""

from __future__ import annotations

import time

from marshmallow import Schema, fields

from .blueprint import Blueprint
from .envelope import now_iso, ok
from .schemas import envelope
from .app_state import state

blp = Blueprint("Health", __name__, description="Liveness and storage health (no credentials)")


class StorageSchema(Schema):
    healthy = fields.Boolean(required=True)
    provider = fields.String(required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["healthy", "unhealthy"]})
    timestamp = fields.String(required=True)
    uptime = fields.Integer(required=True, metadata={"description": "seconds this process has served"})
    storage = fields.Nested(StorageSchema, required=True)


def _health():
    st = state()
    try:
        healthy = bool(st.redis.ping())
    except Exception:
        healthy = False
    body = ok({"status": "healthy" if healthy else "unhealthy", "timestamp": now_iso(),
               "uptime": int(time.time() - st.started),
               "storage": {"healthy": healthy, "provider": "redis"}})
    return body, 200 if healthy else 503


@blp.route("/health", methods=["GET"])
@blp.response(200, envelope(HealthSchema))
@blp.alt_response(503, schema=envelope(HealthSchema), description="Redis does not answer")
def health():
    """Is this process up, and does Redis answer?"""
    return _health()


@blp.route("/api/health", methods=["GET"])
@blp.response(200, envelope(HealthSchema))
@blp.alt_response(503, schema=envelope(HealthSchema), description="Redis does not answer")
def api_health():
    """The same check under /api."""
    return _health()
