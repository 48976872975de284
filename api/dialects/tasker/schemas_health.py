"""Health bodies: readiness (Redis answers), liveness, detailed status."""

from __future__ import annotations

from marshmallow import Schema, fields


class TaskerRedisCheckSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["healthy", "unhealthy"]})
    response_time_ms = fields.Float()
    version = fields.String()
    error = fields.String(metadata={"description": "the kind of failure, when unhealthy"})


class TaskerChecksSchema(Schema):
    redis = fields.Nested(TaskerRedisCheckSchema, required=True)


class TaskerReadySchema(Schema):
    ready = fields.Boolean(required=True)
    status = fields.String(required=True, metadata={"enum": ["ready", "not_ready"]})
    timestamp = fields.String(required=True)
    checks = fields.Nested(TaskerChecksSchema, required=True)


class TaskerLiveSchema(Schema):
    alive = fields.Boolean(required=True)
    status = fields.String(required=True, metadata={"enum": ["alive"]})
    timestamp = fields.String(required=True)
    uptime_seconds = fields.Integer(required=True, metadata={"description": "of this web process"})


class WorkerCountsSchema(Schema):
    online = fields.Integer(required=True, metadata={"description": "workers with a recent heartbeat"})
    serving_workflows = fields.Integer(required=True, metadata={"description": "of those, serving `queue`"})
    queue = fields.String(required=True, metadata={"description": "the engine queue of every step"})


class HandlerCountsSchema(Schema):
    published = fields.Integer(required=True, metadata={"description": "handler versions published"})
    namespaces = fields.Integer(required=True)
    invalid = fields.Integer(required=True, metadata={
        "description": "stored definitions that do not load (skipped by every read; the status is then degraded)"})


class TaskerWorkflowCountsSchema(Schema):
    total = fields.Integer(required=True, metadata={"description": "every task kept"})
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True, metadata={
        "description": "every task kept, by status (exact: one count of each status index)"})
    recent = fields.Integer(required=True, metadata={"description": "the newest ones counted by status"})
    recent_by_status = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class TaskerStatusSchema(Schema):
    status = fields.String(required=True, metadata={
        "enum": ["healthy", "degraded", "unhealthy"],
        "description": "degraded: no worker serves the workflows queue, or no handler is published"})
    timestamp = fields.String(required=True)
    version = fields.String(required=True, metadata={"description": "taskq's"})
    uptime_seconds = fields.Integer(required=True)
    redis = fields.Nested(TaskerRedisCheckSchema, required=True)
    workers = fields.Nested(WorkerCountsSchema)
    handlers = fields.Nested(HandlerCountsSchema)
    workflows = fields.Nested(TaskerWorkflowCountsSchema)
