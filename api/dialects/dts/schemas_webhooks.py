"""DTS webhook schemas: register and read endpoints."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import Length, OneOf

from taskq.webhooks import EVENTS

class WebhookCreateSchema(Schema):
    url = fields.String(required=True, validate=Length(1, 2048), metadata={
        "example": "https://example.com/hooks/taskq",
        "description": "http(s), no credentials; loopback, private, link-local and metadata "
                       "addresses are refused (422 url_not_allowed) unless the operator allows "
                       "a range (TASKQ_WEBHOOK_ALLOW_NETS)"})
    queues = fields.List(fields.String(validate=Length(1, 128)), validate=Length(1, 100), metadata={
        "description": "engine queues whose task events this endpoint receives, or [\"*\"] for "
                       "all; default: the DTS queue. Any other queue needs scope admin"})
    events = fields.List(fields.String(validate=OneOf(EVENTS)), validate=Length(max=len(EVENTS)),
                         metadata={"description": "events to receive; empty or absent: all"})
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
