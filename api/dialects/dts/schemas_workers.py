"""DTS worker schemas: list, one worker, the tasks it holds."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import OneOf

from ...schemas import PageArgsSchema, UTCDateTime
from ...shared_tasks.schemas import DTS_STATUSES

WORKER_STATUSES = ("active", "idle", "offline")


class WorkerListArgsSchema(PageArgsSchema):
    status = fields.String(validate=OneOf(WORKER_STATUSES))


class WorkerTaskArgsSchema(PageArgsSchema):
    status = fields.String(validate=OneOf(DTS_STATUSES))


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
