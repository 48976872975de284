"""Query arguments and answers of /tasker/analytics/*."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields
from marshmallow.validate import Range, Regexp

from taskq.workflows.counters import MAX_PERIOD_HOURS
from taskq.workflows.handlers import NAME_RE, SEMVER_RE

from ...numbers import QueryInt


class BottlenecksArgsSchema(Schema):
    class Meta:
        unknown = RAISE

    namespace = fields.String(validate=Regexp(NAME_RE, error="is not a valid handler namespace"),
                              metadata={"description": "Only workflows of this namespace"})
    name = fields.String(validate=Regexp(NAME_RE, error="is not a valid handler name"),
                         metadata={"description": "Only workflows of this handler name"})
    version = fields.String(validate=Regexp(SEMVER_RE, error="is not a valid handler version"),
                            metadata={"description": "Only workflows of this handler version"})
    period = QueryInt(load_default=24,
                            validate=Range(min=1, max=MAX_PERIOD_HOURS),
                            metadata={"description": f"Hours analysed, 1 to {MAX_PERIOD_HOURS}"})


class NoArgsSchema(Schema):
    class Meta:
        unknown = RAISE


class TrendSchema(Schema):
    completion_rate = fields.Float(allow_none=True)
    avg_duration_ms = fields.Integer(allow_none=True)
    finished = fields.Integer()


class PerformanceSchema(Schema):
    system_health_score = fields.Float(allow_none=True, metadata={
        "description": "100 * completion_rate * (1 - 0.25 * retry_rate) over 24 h; null with no data"})
    performance_trends = fields.Dict(keys=fields.String(), values=fields.Nested(TrendSchema))
    task_statistics = fields.Dict(keys=fields.String(), values=fields.Integer())
    processing_times = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True))
    window_hours = fields.Integer()
    data_available = fields.Boolean()


class BottlenecksSchema(Schema):
    analysis_period = fields.String()
    scope = fields.Dict(keys=fields.String(), values=fields.String())
    slowest_tasks = fields.List(fields.Dict())
    slowest_steps = fields.List(fields.Dict())
    error_patterns = fields.List(fields.Dict())
    recommendations = fields.List(fields.Dict())
    data_available = fields.Boolean()
