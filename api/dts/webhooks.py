"""Webhook endpoints: /api/webhooks (register, list, get, delete). Delivery
is the scheduler's job (taskq.webhooks)."""

from __future__ import annotations

from datetime import datetime, timezone

from flask.views import MethodView
from flask_smorest import Blueprint

from ..auth import secured
from ..envelope import iso, ok
from ..errors import ApiError
from ..schemas import envelope
from ..state import state
from .schemas import MessageSchema, WebhookCreateSchema, WebhookSchema

blp = Blueprint("Webhooks", __name__, description="Webhooks: endpoints told about task and worker events")


def _view(rec: dict) -> dict:
    out = dict(rec)
    out["created_at"] = iso(datetime.fromtimestamp(rec["created_at"] / 1000, tz=timezone.utc))
    return out


@blp.route("/webhooks")
class Webhooks(MethodView):
    @secured("webhooks:read")
    @blp.response(200, envelope(WebhookSchema, True))
    def get(self):
        """List endpoints (secrets are not shown)."""
        return ok([_view(r) for r in state().webhooks.all()])

    @secured("webhooks:write")
    @blp.arguments(WebhookCreateSchema)
    @blp.response(201, envelope(WebhookSchema))
    def post(self, body):
        """Register an endpoint. The answer holds its secret, shown only here."""
        rec = state().webhooks.create(body["url"], body.get("events"), body.get("secret"),
                                      body.get("description"))
        rec["stats"] = {}
        return ok(_view(rec))


@blp.route("/webhooks/<webhook_id>")
class WebhookItem(MethodView):
    @secured("webhooks:read")
    @blp.response(200, envelope(WebhookSchema))
    def get(self, webhook_id):
        """One endpoint, with its delivery counters."""
        rec = state().webhooks.get(webhook_id)
        if rec is None:
            raise ApiError(404, "not_found", f"webhook {webhook_id} not found")
        return ok(_view(rec))

    @secured("webhooks:write")
    @blp.response(200, envelope(MessageSchema))
    def delete(self, webhook_id):
        """Remove an endpoint; events not yet delivered to it are dropped."""
        if not state().webhooks.delete(webhook_id):
            raise ApiError(404, "not_found", f"webhook {webhook_id} not found")
        return ok({"success": True, "message": "Webhook deleted successfully"})
