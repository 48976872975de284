"""Task (workflow run) bodies: create, list with its pagination block,
one task with its steps and, on request, its dependency analysis."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import OneOf, Range

from taskq.workflows import WORKFLOW_STATUSES

from ...numbers import QueryInt

from .schemas_common import PRESENT, name_field, semver
from .schemas_workflow_steps import TaskerStepSchema

MAX_PER_PAGE = 100
"""per_page above this is served as this (the pagination block shows it)."""


class TaskerTaskCreateSchema(Schema):
    name = name_field("the handler's name", "process_payment", required=True, error_messages=PRESENT)
    namespace = name_field("the handler's namespace", "payments", required=True, error_messages=PRESENT)
    version = semver("the handler's version (default: the latest published)", allow_none=True)
    context = fields.Dict(load_default=dict, keys=fields.String(), error_messages={
        "invalid": "must be a JSON object"}, metadata={
        "description": "what the steps read (a JSON object)",
        "example": {"payment_id": 12345, "amount": 99.99, "currency": "USD", "customer_id": 67890}})


class TaskerTaskListArgsSchema(Schema):
    namespace = fields.String(metadata={"description": "only this namespace"})
    name = fields.String(metadata={"description": "only this handler name"})
    version = semver("only this handler version")
    status = fields.String(validate=OneOf(WORKFLOW_STATUSES))
    page = QueryInt(load_default=1, validate=Range(1, 1_000_000), metadata={"description": "from 1"})
    per_page = QueryInt(load_default=25, validate=Range(min=1), ceiling=MAX_PER_PAGE, metadata={
        "description": f"items per page (default 25; above {MAX_PER_PAGE}: {MAX_PER_PAGE})"})


class TaskerTaskDetailArgsSchema(Schema):
    include_dependencies = fields.Boolean(load_default=False, metadata={
        "description": "add the dependency analysis (ready, blocked and completed steps)"})


class TaskerTaskSchema(Schema):
    id = fields.String(required=True, metadata={"example": "550e8400-e29b-41d4-a716-446655440000"})
    name = fields.String(required=True)
    namespace = fields.String(required=True)
    version = fields.String(required=True)
    full_name = fields.String(required=True, metadata={"example": "payments.process_payment@2.1.0"})
    status = fields.String(required=True, metadata={"enum": list(WORKFLOW_STATUSES)})
    context = fields.Dict(required=True)
    created_at = fields.String(required=True, metadata={"example": "2024-01-15T10:30:00.000Z"})
    updated_at = fields.String(required=True)


class TaskerDependenciesSchema(Schema):
    analysis = fields.String(required=True)
    blocked_steps = fields.List(fields.String(), required=True)
    ready_steps = fields.List(fields.String(), required=True)
    completed_steps = fields.List(fields.String(), required=True)


class TaskerTaskDetailSchema(TaskerTaskSchema):
    steps = fields.List(fields.Nested(TaskerStepSchema), required=True)
    dependencies = fields.Nested(TaskerDependenciesSchema, metadata={"description": "with include_dependencies=true"})


class TaskerPaginationSchema(Schema):
    current_page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total_pages = fields.Integer(required=True)
    total_count = fields.Integer(required=True)


class TaskerTaskListSchema(Schema):
    tasks = fields.List(fields.Nested(TaskerTaskSchema), required=True)
    pagination = fields.Nested(TaskerPaginationSchema, required=True)
