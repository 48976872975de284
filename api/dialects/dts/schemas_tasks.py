"""DTS task schemas: create, list, cancel/retry answers, logs and checkpoints
(the fields of one task are shared with TaskDriver: api.shared_tasks.schemas)."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import Length, OneOf, Range

from ...numbers import QueryInt
from ...schemas import JSONBoolean, JSONInteger, PageArgsSchema, UTCDateTime
from ...shared_tasks.schemas import DTS_STATUSES, TaskFieldsSchema

SORTS = ("created_at", "updated_at", "priority", "scheduled_at", "started_at", "completed_at",
         "status", "name")
LOG_LEVELS = ("debug", "info", "warn", "error")


class TaskCreateSchema(TaskFieldsSchema):
    name = fields.String(required=True, validate=Length(1, 256), metadata={"example": "Example Task"})
    command = fields.String(required=True, validate=Length(1, 4096),
                            metadata={"example": "echo 'Hello World'"})
    priority = JSONInteger(load_default=5, validate=Range(1, 10))
    max_retries = JSONInteger(load_default=3, validate=Range(0, 100))
    timeout_seconds = JSONInteger(load_default=3600, validate=Range(1, 7 * 86400))
    checkpoint_enabled = JSONBoolean(load_default=False)
    rate_key = fields.String(validate=Length(1, 200), metadata={
        "description": "taskq extension: the task's starts count against the limit the "
                       "operator set for this key on the queue (taskq queues rate-limit dts "
                       "LIMIT --key KEY); without a limit set, it changes nothing",
        "example": "customer-42"})


class TaskListArgsSchema(PageArgsSchema):
    status = fields.String(validate=OneOf(DTS_STATUSES))
    tag = fields.String(validate=Length(1, 128))
    sort = fields.String(load_default="created_at", validate=OneOf(SORTS))
    order = fields.String(load_default="desc", validate=OneOf(("asc", "desc")))


class TaskStatusSchema(Schema):
    """What cancel and retry answer."""

    id = fields.String(required=True)
    status = fields.String(required=True)
    retry_count = JSONInteger()
    cancel_requested = fields.Boolean()
    updated_at = UTCDateTime(allow_none=True)


class LogArgsSchema(Schema):
    limit = QueryInt(load_default=100, validate=Range(1, 1000))
    offset = QueryInt(load_default=0, validate=Range(0, 1_000_000))
    level = fields.String(validate=OneOf(LOG_LEVELS))


class LogLineSchema(Schema):
    timestamp = UTCDateTime(required=True)
    level = fields.String(required=True)
    message = fields.String(required=True)


class LogMetaSchema(Schema):
    limit = JSONInteger(required=True)
    offset = JSONInteger(required=True)
    total = JSONInteger(required=True)


class CheckpointSchema(Schema):
    checkpoint_data = fields.Dict(required=True, metadata={"example": {"current_step": 3}})
    lease_token = fields.String(validate=Length(1, 200), metadata={
        "description": "the current lease token (or send the X-Lease-Token header); "
                       "without it only scope admin may write"})


class CheckpointOutSchema(Schema):
    id = fields.String(required=True)
    checkpoint_data = fields.Raw(allow_none=True)
    updated_at = UTCDateTime(allow_none=True)
