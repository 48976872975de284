"""TaskDriver task schemas: a project's task list, create, create in bulk
(the fields of one task are shared with DTS: api.shared_tasks.schemas)."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import Length, OneOf, Range

from ...numbers import QueryInt
from ...schema_extras import extra
from ...schemas import JSONInteger
from ...shared_tasks.schemas import (MAX_INSTRUCTIONS, TD_STATUSES, VARIABLE_NAMES, TDTaskSchema,
                                      variables_field)
from .schemas_common import UUIDString, batch_field


@extra(properties=VARIABLE_NAMES)
class TDTaskCreateSchema(Schema):
    typeId = UUIDString(required=True)
    instructions = fields.String(allow_none=True, validate=Length(max=MAX_INSTRUCTIONS), metadata={
        "description": "used when the type has no template ({{placeholders}} are filled in too)"})
    variables = variables_field
    batchId = batch_field
    priority = JSONInteger(validate=Range(-1000, 1000), metadata={
        "description": "taskq: higher is leased first (default 0)"})


class BulkSchema(Schema):
    tasks = fields.List(fields.Nested(TDTaskCreateSchema), required=True, validate=Length(1, 1000))
    batchId = batch_field


class TDTaskListArgsSchema(Schema):
    status = fields.String(validate=OneOf(TD_STATUSES))
    assignedTo = fields.String(validate=Length(1, 128))
    batchId = fields.String(validate=Length(1, 100))
    typeId = fields.String(validate=Length(1, 64))
    limit = QueryInt(load_default=100, validate=Range(1, 1000))
    offset = QueryInt(load_default=0, validate=Range(0, 10_000_000))


class BulkResultSchema(Schema):
    batchId = fields.String(required=True)
    tasksCreated = JSONInteger(required=True)
    duplicatesSkipped = JSONInteger()
    errors = fields.List(fields.String())
    tasks = fields.List(fields.Nested(TDTaskSchema))
