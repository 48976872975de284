"""DTS system schemas: status and metrics."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf

METRIC_NAMES = ("task_completion_rate", "error_rate", "average_execution_time")


class SystemStatusSchema(Schema):
    status = fields.String(required=True)
    version = fields.String()
    uptime = fields.Integer(metadata={"description": "seconds since the oldest running API process started"})
    components = fields.Dict(keys=fields.String(), values=fields.Dict())
    task_stats = fields.Dict(keys=fields.String(), values=fields.Integer())
    queue_depths = fields.Dict(keys=fields.String(), values=fields.Integer())


class MetricsArgsSchema(Schema):
    period = fields.String(load_default="day", validate=OneOf(("hour", "day", "week", "month")),
                           metadata={"description": "window ending now: hour (per minute), "
                                     "day (per hour), week and month (per day)"})
    metrics = fields.String(validate=Length(max=200), metadata={
        "description": "comma-separated subset of " + ", ".join(METRIC_NAMES)})

    @validates_schema
    def known_metrics(self, data, **kwargs):
        names = [m.strip() for m in data.get("metrics", "").split(",") if m.strip()]
        bad = [m for m in names if m not in METRIC_NAMES]
        if bad:
            raise ValidationError(f"unknown metrics {bad}; known: {list(METRIC_NAMES)}", "metrics")


class PointSchema(Schema):
    timestamp = fields.String(required=True)
    value = fields.Float(required=True)


class MetricsSchema(Schema):
    task_completion_rate = fields.List(fields.Nested(PointSchema))
    error_rate = fields.List(fields.Nested(PointSchema))
    average_execution_time = fields.List(fields.Nested(PointSchema))


class MetricsMetaSchema(Schema):
    period = fields.String(required=True)
    start_time = fields.String(required=True)
    end_time = fields.String(required=True)
    interval_seconds = fields.Integer()
