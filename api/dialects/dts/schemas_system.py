"""DTS system schemas: status and metrics."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf

METRIC_NAMES = ("task_completion_rate", "error_rate", "average_execution_time")
_ONE_METRIC = r"\s*(?:(?:" + "|".join(METRIC_NAMES) + r")\s*)?"
METRICS_PATTERN = rf"^{_ONE_METRIC}(?:,{_ONE_METRIC})*$"
"""What ``metrics`` may be (documented): known names, commas, blanks around them."""


class QueueLatencySchema(Schema):
    queue = fields.String(required=True, metadata={
        "description": "the queue's name (a TaskDriver project's queue: project:<project name>)"})
    latency_seconds = fields.Float(required=True, metadata={
        "description": "seconds since the oldest task ready to run became ready: its enqueue "
                       "time, or its due time when delayed or retried; 0 when none is ready"})
    served = fields.Boolean(required=True, metadata={
        "description": "whether a live registered worker listens to the queue"})


class SystemStatusSchema(Schema):
    status = fields.String(required=True)
    version = fields.String()
    uptime = fields.Integer(metadata={"description": "seconds since the oldest running API process started"})
    components = fields.Dict(keys=fields.String(), values=fields.Dict())
    task_stats = fields.Dict(keys=fields.String(), values=fields.Integer())
    queue_depths = fields.Dict(keys=fields.String(), values=fields.Integer())
    queue_latency = fields.List(fields.Nested(QueueLatencySchema), metadata={
        "description": "per queue: how long its oldest runnable task has waited, and whether "
                       "a worker serves it (what autoscalers scale on)"})
    max_queue_latency_seconds = fields.Float(metadata={
        "description": "the largest latency_seconds of queue_latency (0 with no queues)"})


class MetricsArgsSchema(Schema):
    period = fields.String(load_default="day", validate=OneOf(("hour", "day", "week", "month")),
                           metadata={"description": "window ending now: hour (per minute), "
                                     "day (per hour), week and month (per day)"})
    metrics = fields.String(validate=Length(max=200), metadata={
        "description": "comma-separated subset of " + ", ".join(METRIC_NAMES),
        "pattern": METRICS_PATTERN})

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
