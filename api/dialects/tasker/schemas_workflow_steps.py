"""Workflow step bodies: one step (its name is its id), and the PATCH."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Range

from taskq.workflows import STEP_STATUSES
from taskq.workflows.handlers import MAX_RETRY_LIMIT

from ...schema_extras import extra


class TaskerStepSchema(Schema):
    id = fields.String(required=True, metadata={"description": "the step's name"})
    task_id = fields.String(required=True, metadata={"description": "the task (workflow) it belongs to"})
    name = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": list(STEP_STATUSES)})
    results = fields.Raw(allow_none=True, metadata={"description": "what the step returned, once complete"})
    attempts = fields.Integer(required=True)
    retry_limit = fields.Integer(required=True)
    retryable = fields.Boolean(required=True)
    skippable = fields.Boolean(required=True)
    depends_on = fields.List(fields.String(), required=True)
    inputs = fields.Dict(required=True)
    error = fields.String(allow_none=True)
    started_at = fields.String(allow_none=True)
    completed_at = fields.String(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    engine_task_id = fields.String(required=True, metadata={"description": "the engine task running it"})


@extra(minProperties=1)
class TaskerStepUpdateSchema(Schema):
    retry_limit = fields.Integer(strict=True, validate=Range(0, MAX_RETRY_LIMIT), metadata={
        "description": "retries after a failure (until the step finishes)", "example": 5})
    inputs = fields.Dict(keys=fields.String(), error_messages={"invalid": "must be a JSON object"},
                         metadata={"description": "what the step reads when it starts (replaces the old)",
                                   "example": {"timeout": 30}})

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError("give retry_limit and/or inputs", "_schema")
