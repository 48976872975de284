"""POST /events: the body (described here, validated by the service and
the engine) and the answer."""

from __future__ import annotations

from marshmallow import Schema, fields

from taskq.schedules.model import EVENT_RE


class EventSchema(Schema):
    name = fields.String(required=True, metadata={
        "description": "the event name: [A-Za-z0-9_.:-]{1,128}", "example": "invoice.paid",
        "pattern": EVENT_RE.pattern})
    payload = fields.Dict(allow_none=True, metadata={
        "description": "a JSON object (at most 64 KiB, 32 levels deep) each run's tasks get as "
                       "meta.event; null or absent: none", "example": {"invoice": 42}})


class FiredRunSchema(Schema):
    id = fields.String(required=True, metadata={"description": "the scheduled task that fired"})
    run = fields.String(required=True, metadata={"description": "its run key"})


class PublishedSchema(Schema):
    name = fields.String(required=True)
    fired = fields.List(fields.Nested(FiredRunSchema), required=True, metadata={
        "description": "one entry per event task that ran (none: no active task waits for it)"})
