"""Request and response schemas of the Distributed Task Scheduler dialect,
field for field as its API document shows them."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Range

from taskq.webhooks import EVENTS

from ...schemas import PageArgsSchema, UTCDateTime

STATUSES = ("pending", "running", "completed", "failed", "cancelled")
SORTS = ("created_at", "updated_at", "priority", "scheduled_at", "started_at", "completed_at",
         "status", "name")
LOG_LEVELS = ("debug", "info", "warn", "error")
WORKER_STATUSES = ("active", "idle", "offline")
METRIC_NAMES = ("task_completion_rate", "error_rate", "average_execution_time")

_tag = fields.String(validate=Length(1, 128))
_task_id = fields.String(validate=Length(1, 300))


class _TaskFields(Schema):
    """Fields a client may set on create and update."""

    description = fields.String(allow_none=True, validate=Length(max=4096))
    priority = fields.Integer(validate=Range(1, 10), metadata={"description": "1 (low) to 10 (high)"})
    max_retries = fields.Integer(validate=Range(0, 100))
    scheduled_at = UTCDateTime(allow_none=True, metadata={"description": "ISO 8601; run no earlier"})
    timeout_seconds = fields.Integer(validate=Range(1, 7 * 86400))
    tags = fields.List(_tag, validate=Length(max=50))
    dependencies = fields.List(_task_id, validate=Length(max=100),
                               metadata={"description": "ids of tasks that must complete first"})
    checkpoint_enabled = fields.Boolean()


class TaskCreateSchema(_TaskFields):
    name = fields.String(required=True, validate=Length(1, 256), metadata={"example": "Example Task"})
    command = fields.String(required=True, validate=Length(1, 4096),
                            metadata={"example": "echo 'Hello World'"})
    priority = fields.Integer(load_default=5, validate=Range(1, 10))
    max_retries = fields.Integer(load_default=3, validate=Range(0, 100))
    timeout_seconds = fields.Integer(load_default=3600, validate=Range(1, 7 * 86400))
    checkpoint_enabled = fields.Boolean(load_default=False)


class TaskUpdateSchema(_TaskFields):
    name = fields.String(validate=Length(1, 256))
    command = fields.String(validate=Length(1, 4096))

    @validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("give at least one field to change", "_schema")


class TaskSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    command = fields.String(allow_none=True)
    status = fields.String(required=True, metadata={"enum": list(STATUSES)})
    priority = fields.Integer(required=True)
    retry_count = fields.Integer(required=True)
    max_retries = fields.Integer(required=True)
    created_at = UTCDateTime(allow_none=True)
    updated_at = UTCDateTime(allow_none=True)
    scheduled_at = UTCDateTime(allow_none=True)
    started_at = UTCDateTime(allow_none=True)
    completed_at = UTCDateTime(allow_none=True)
    timeout_seconds = fields.Integer(allow_none=True)
    tags = fields.List(fields.String())
    dependencies = fields.List(fields.String())
    worker_id = fields.String(allow_none=True)
    result = fields.Raw(allow_none=True)
    error = fields.String(allow_none=True)
    checkpoint_data = fields.Raw(allow_none=True)
    checkpoint_enabled = fields.Boolean()
    cancel_requested = fields.Boolean(metadata={"description": "a running task was asked to stop"})


class TaskListArgsSchema(PageArgsSchema):
    status = fields.String(validate=OneOf(STATUSES))
    tag = fields.String(validate=Length(1, 128))
    sort = fields.String(load_default="created_at", validate=OneOf(SORTS))
    order = fields.String(load_default="desc", validate=OneOf(("asc", "desc")))


class DeleteArgsSchema(Schema):
    force = fields.Boolean(load_default=False, metadata={"description": "delete a running task too"})


class MessageSchema(Schema):
    success = fields.Boolean(required=True)
    message = fields.String(required=True)


class TaskStatusSchema(Schema):
    """What cancel and retry answer."""

    id = fields.String(required=True)
    status = fields.String(required=True)
    retry_count = fields.Integer()
    cancel_requested = fields.Boolean()
    updated_at = UTCDateTime(allow_none=True)


class LogArgsSchema(Schema):
    limit = fields.Integer(load_default=100, validate=Range(1, 1000))
    offset = fields.Integer(load_default=0, validate=Range(0, 1_000_000))
    level = fields.String(validate=OneOf(LOG_LEVELS))


class LogLineSchema(Schema):
    timestamp = UTCDateTime(required=True)
    level = fields.String(required=True)
    message = fields.String(required=True)


class LogMetaSchema(Schema):
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    total = fields.Integer(required=True)


class CheckpointSchema(Schema):
    checkpoint_data = fields.Dict(required=True, metadata={"example": {"current_step": 3}})
    lease_token = fields.String(validate=Length(1, 200), metadata={
        "description": "the current lease token (or send the X-Lease-Token header); "
                       "without it only scope admin may write"})


class CheckpointOutSchema(Schema):
    id = fields.String(required=True)
    checkpoint_data = fields.Raw(allow_none=True)
    updated_at = UTCDateTime(allow_none=True)


class WorkerListArgsSchema(PageArgsSchema):
    status = fields.String(validate=OneOf(WORKER_STATUSES))


class WorkerTaskArgsSchema(PageArgsSchema):
    status = fields.String(validate=OneOf(STATUSES))


class ResourcesSchema(Schema):
    cpu_usage = fields.Float()
    memory_usage = fields.Float()
    disk_usage = fields.Float()


class WorkerSchema(Schema):
    id = fields.String(required=True)
    hostname = fields.String()
    status = fields.String(metadata={"enum": list(WORKER_STATUSES)})
    tasks_completed = fields.Integer()
    tasks_failed = fields.Integer()
    current_tasks = fields.Integer()
    last_heartbeat = UTCDateTime(allow_none=True)
    registered_at = UTCDateTime(allow_none=True)
    version = fields.String()
    tags = fields.List(fields.String())
    queues = fields.List(fields.String())


class WorkerDetailSchema(WorkerSchema):
    current_task_ids = fields.List(fields.String())
    resources = fields.Nested(ResourcesSchema)


class WorkerTaskSchema(Schema):
    id = fields.String(required=True)
    name = fields.String()
    status = fields.String()
    started_at = UTCDateTime(allow_none=True)
    completed_at = UTCDateTime(allow_none=True)
    priority = fields.Integer()


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
