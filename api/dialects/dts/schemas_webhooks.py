"""DTS webhook schemas: register and read endpoints."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields
from marshmallow.validate import Length

from taskq.webhooks.store import EVENTS, MAX_EVENTS, valid_event
from taskq.workflows.handlers import EVENT_RE


def _event_name(value: str) -> None:
    if not valid_event(value):
        raise ValidationError(f"must be one of {', '.join(EVENTS)} or a custom event name "
                              "(letters, digits, '_', '.', '-'; not beginning with 'task.' or "
                              "'worker.')")


class WebhookCreateSchema(Schema):
    url = fields.String(required=True, validate=Length(1, 2048), metadata={
        "example": "https://example.com/hooks/taskq",
        "description": "http(s), no credentials; loopback, private, link-local and metadata "
                       "addresses are refused (422 url_not_allowed) unless the operator allows "
                       "a range (TASKQ_WEBHOOK_ALLOW_NETS)"})
    queues = fields.List(fields.String(validate=Length(1, 128)), validate=Length(1, 100), metadata={
        "description": "engine queues whose task events this endpoint receives, or [\"*\"] for "
                       "all; default: the DTS queue. Any other queue needs scope admin"})
    events = fields.List(
        fields.String(validate=_event_name, metadata={"anyOf": [
            {"enum": list(EVENTS)},
            {"pattern": EVENT_RE.pattern, "not": {"pattern": "^(?:task|worker)\\."}}]}),
        validate=Length(max=MAX_EVENTS),
        metadata={"description": "events to receive; empty or absent: all. Besides "
                                 f"{', '.join(EVENTS)}: custom event names that workflow steps "
                                 "declare (e.g. payment.gateway.charged), delivered for the "
                                 "queues the endpoint covers (workflows: the shared workflow queue)"})
    secret = fields.String(validate=Length(16, 256), metadata={
        "description": "HMAC key for X-Taskq-Signature; generated when absent"})
    description = fields.String(allow_none=True, validate=Length(max=1024))


class WebhookSchema(Schema):
    id = fields.String(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String())
    queues = fields.List(fields.String(), allow_none=True)
    description = fields.String(allow_none=True)
    active = fields.Boolean()
    created_at = fields.String()
    secret = fields.String(metadata={"description": "only in the answer to the create call"})
    stats = fields.Dict()
