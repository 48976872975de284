"""Schemas of the task both dialects on /api read and write: the DTS fields,
the TaskDriver fields, and their union on /api/tasks/{id}."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, Range

from taskq.projects.task_types import MAX_VARIABLES

from ..schema_extras import extra
from ..schemas import JSONBoolean, JSONInteger, UTCDateTime

DTS_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
TD_STATUSES = ("queued", "running", "completed", "failed")
MAX_INSTRUCTIONS = 64 * 1024

_tag = fields.String(validate=Length(1, 128))
_task_id = fields.String(validate=Length(1, 300), metadata={"pattern": r"^[A-Za-z0-9_.\-]{1,128}:[^:]+$"})
"""A task id, ``<queue>:<id in the queue>`` (the engine refuses any other text)."""
variables_field = fields.Dict(keys=fields.String(validate=Length(1, 100)), values=fields.Raw(allow_none=True),
                         validate=Length(max=MAX_VARIABLES),
                         metadata={"description": "values for the type's {{placeholders}} "
                                                  "(text, numbers, booleans)"})
VARIABLE_NAMES = {"variables": {"propertyNames": {"minLength": 1, "maxLength": 100},
                                "maxProperties": MAX_VARIABLES, "maxLength": None}}
"""The rules of ``variables`` as keywords of an object (apispec writes its
Length as a string's maxLength), for the document (schema_extras)."""


class TaskFieldsSchema(Schema):
    """Fields a client may set on create and update."""

    description = fields.String(allow_none=True, validate=Length(max=4096))
    priority = JSONInteger(validate=Range(1, 10), metadata={"description": "1 (low) to 10 (high)"})
    max_retries = JSONInteger(validate=Range(0, 100))
    scheduled_at = UTCDateTime(allow_none=True, metadata={"description": "ISO 8601; run no earlier"})
    timeout_seconds = JSONInteger(validate=Range(1, 7 * 86400))
    tags = fields.List(_tag, validate=Length(max=50))
    dependencies = fields.List(_task_id, validate=Length(max=100),
                               metadata={"description": "ids of tasks that must complete first"})
    checkpoint_enabled = JSONBoolean()


@extra(minProperties=1)
class TaskUpdateSchema(TaskFieldsSchema):
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
    status = fields.String(required=True, metadata={"enum": list(DTS_STATUSES)})
    priority = JSONInteger(required=True)
    retry_count = JSONInteger(required=True)
    max_retries = JSONInteger(required=True)
    created_at = UTCDateTime(allow_none=True)
    updated_at = UTCDateTime(allow_none=True)
    scheduled_at = UTCDateTime(allow_none=True)
    started_at = UTCDateTime(allow_none=True)
    completed_at = UTCDateTime(allow_none=True)
    timeout_seconds = JSONInteger(allow_none=True)
    tags = fields.List(fields.String())
    dependencies = fields.List(fields.String())
    worker_id = fields.String(allow_none=True)
    result = fields.Raw(allow_none=True)
    error = fields.String(allow_none=True)
    checkpoint_data = fields.Raw(allow_none=True)
    checkpoint_enabled = fields.Boolean()
    cancel_requested = fields.Boolean(metadata={"description": "a running task was asked to stop"})


class TDTaskSchema(Schema):
    id = fields.String(required=True)
    projectId = fields.String(allow_none=True)
    typeId = fields.String(allow_none=True)
    instructions = fields.String(allow_none=True)
    variables = fields.Dict()
    status = fields.String(metadata={"enum": list(TD_STATUSES)})
    assignedTo = fields.String(allow_none=True)
    assignedAt = fields.String(allow_none=True)
    leaseExpiresAt = fields.String(allow_none=True)
    createdAt = fields.String(allow_none=True)
    updatedAt = fields.String(allow_none=True)
    completedAt = fields.String(allow_none=True)
    failedAt = fields.String(allow_none=True)
    batchId = fields.String(allow_none=True)
    result = fields.Raw(allow_none=True)
    outputs = fields.Dict(allow_none=True)
    error = fields.String(allow_none=True)
    retryCount = JSONInteger()
    maxRetries = JSONInteger()
    priority = JSONInteger()


class UnionTaskSchema(TaskSchema, TDTaskSchema):
    """/api/tasks/{id}: both dialects' fields. ``status``, ``result`` and
    ``error`` take the words of the task's own dialect."""

    status = fields.String(required=True, metadata={"description": "TaskDriver words for a project's task, "
                                                    "DTS words for any other"})
    result = fields.Raw(allow_none=True)


@extra(properties=VARIABLE_NAMES)
class UnionTaskUpdateSchema(TaskUpdateSchema):
    """PUT /api/tasks/{id}: either dialect's fields."""

    instructions = fields.String(validate=Length(1, MAX_INSTRUCTIONS))
    variables = variables_field


class DeleteArgsSchema(Schema):
    force = fields.Boolean(load_default=False, metadata={"description": "delete a running task too"})


class MessageSchema(Schema):
    success = fields.Boolean(required=True)
    message = fields.String(required=True)
