"""TaskDriver project and task-type schemas."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import Length, OneOf, Range

from taskq.projects.store import NAME_MESSAGE, NAME_RE
from taskq.projects.task_types import DUPLICATE_HANDLING, MAX_TEMPLATE, MAX_VARIABLES, TYPE_NAME_MESSAGE, VARIABLE_RE

from ...numbers import QueryInt
from ...schema_extras import extra
from ...schemas import JSONInteger
from ...shared_tasks.schemas import MAX_INSTRUCTIONS
from .schemas_common import Minutes, Regexp, minutes_field

class ConfigSchema(Schema):
    defaultMaxRetries = JSONInteger(validate=Range(0, 1000), metadata={"example": 3})
    defaultLeaseDurationMinutes = minutes_field(metadata={"example": 10, "description": "fractions allowed"})
    reaperIntervalMinutes = minutes_field(metadata={
        "example": 1, "description": "longest an expired lease waits to be reclaimed; fractions allowed"})


_name = dict(validate=Regexp(NAME_RE, error=NAME_MESSAGE), metadata={"example": "ai-analysis"})


class ProjectCreateSchema(Schema):
    name = fields.String(required=True, **_name)
    description = fields.String(allow_none=True, validate=Length(max=4096))
    instructions = fields.String(allow_none=True, validate=Length(max=MAX_INSTRUCTIONS))
    config = fields.Nested(ConfigSchema)


@extra(minProperties=1)  # an empty body: 404 for a missing project, else 422 (the view)
class ProjectUpdateSchema(Schema):
    name = fields.String(**_name)
    description = fields.String(allow_none=True, validate=Length(max=4096))
    instructions = fields.String(allow_none=True, validate=Length(max=MAX_INSTRUCTIONS))
    status = fields.String(validate=OneOf(("active", "closed")))
    config = fields.Nested(ConfigSchema)


class ProjectListArgsSchema(Schema):
    status = fields.String(load_default="active", validate=OneOf(("active", "closed", "all")))
    limit = QueryInt(load_default=100, validate=Range(1, 100))
    offset = QueryInt(load_default=0, validate=Range(0, 1_000_000))


class StatsSchema(Schema):
    totalTasks = JSONInteger(required=True)
    completedTasks = JSONInteger(required=True)
    failedTasks = JSONInteger(required=True)
    queuedTasks = JSONInteger(required=True)
    runningTasks = JSONInteger(required=True)


class ProjectSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    instructions = fields.String(allow_none=True)
    status = fields.String(required=True)
    createdAt = fields.String()
    updatedAt = fields.String()
    config = fields.Nested(ConfigSchema)
    stats = fields.Nested(StatsSchema)


class ProjectRefSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    stats = fields.Nested(StatsSchema)


class RecentActivitySchema(Schema):
    tasksCompletedLastHour = JSONInteger()
    tasksFailedLastHour = JSONInteger()
    averageTaskDuration = fields.Float(metadata={
        "description": "seconds from lease to completion, over the last hour's completed tasks"})


class ReaperSchema(Schema):
    intervalMinutes = Minutes()
    lastRunAt = fields.String(allow_none=True, metadata={
        "description": "the last sweep: the step or cleanup-leases"})
    nextRunAt = fields.String(allow_none=True)


class ProjectStatsSchema(Schema):
    project = fields.Nested(ProjectRefSchema)
    queueDepth = JSONInteger(metadata={"description": "tasks waiting to be leased"})
    activeAgents = JSONInteger(metadata={"description": "agents holding a live lease"})
    recentActivity = fields.Nested(RecentActivitySchema)
    reaper = fields.Nested(ReaperSchema, metadata={"description": "taskq: the project's lease reaper"})


class _TypeFields(Schema):
    template = fields.String(allow_none=True, validate=Length(max=MAX_TEMPLATE))
    variables = fields.List(fields.String(validate=Regexp(VARIABLE_RE)), validate=Length(max=MAX_VARIABLES))
    duplicateHandling = fields.String(validate=OneOf(DUPLICATE_HANDLING))
    maxRetries = JSONInteger(allow_none=True, validate=Range(0, 1000))
    leaseDurationMinutes = minutes_field(allow_none=True)


class TaskTypeCreateSchema(_TypeFields):
    name = fields.String(required=True, validate=Regexp(NAME_RE, error=TYPE_NAME_MESSAGE),
                         metadata={"example": "code-security-analysis"})


@extra(minProperties=1)
class TaskTypeUpdateSchema(_TypeFields):
    name = fields.String(validate=Regexp(NAME_RE, error=TYPE_NAME_MESSAGE))


class TaskTypeSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    projectId = fields.String(required=True)
    template = fields.String(allow_none=True)
    variables = fields.List(fields.String())
    duplicateHandling = fields.String()
    maxRetries = JSONInteger()
    leaseDurationMinutes = Minutes()
    createdAt = fields.String()
    updatedAt = fields.String()
