"""Webhook endpoints: /api/webhooks (register, list, get, delete). Delivery
is the scheduler's job (taskq.webhooks.store).

``webhooks:write`` lets a caller receive every event of the DTS queue (each
task's result included) and every worker event, i.e. what ``tasks:read``
and ``workers:read`` show; an endpoint covering any other queue (or all,
``"*"``) reads results no DTS scope shows, so it needs ``admin``."""

from __future__ import annotations

from flask.views import MethodView

from taskq.webhooks import netguard
from taskq.errors import TaskqValueError
from taskq.isotime import iso_ms

from ...auth import current_principal, secured
from ...blueprint import Blueprint
from ...envelope import ok
from ...errors import ApiError
from ...schemas import envelope
from ...app_state import state
from ...shared_tasks.schemas import MessageSchema
from .schemas_webhooks import WebhookCreateSchema, WebhookSchema
from .runtime import state as dts_state

blp = Blueprint("Webhooks", __name__, description="Webhooks: endpoints told about task and worker events")


def _view(rec: dict) -> dict:
    out = dict(rec)
    out["created_at"] = iso_ms(rec["created_at"])
    return out


def _field_error(field: str, exc: TaskqValueError) -> ApiError:
    message = str(exc)
    return ApiError(422, exc.code, f"{field}: {message}", {"fields": {field: [message]}},
                    extra={"validationDetails": [{"field": field, "message": message, "value": None}]})


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
        st = state()
        queues = body.get("queues") or [dts_state().queue]
        principal = current_principal()
        if set(queues) != {dts_state().queue} and not (principal and principal.allows("admin")):
            raise ApiError(403, "insufficient_scope",
                           "an endpoint for queues other than the DTS queue needs scope 'admin'",
                           {"required_scope": "admin"})
        try:
            rec = st.webhooks.create(body["url"], body.get("events"), body.get("secret"),
                                     body.get("description"), queues)
        except (netguard.InvalidUrl, netguard.UrlNotAllowed) as exc:
            raise _field_error("url", exc) from None
        except TaskqValueError as exc:
            raise _field_error("queues", exc) from None
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
