"""Request and response schemas of the TaskDriver dialect, field for field as
its document shows them (taskq additions are marked in their descriptions)."""

from __future__ import annotations

import uuid

from marshmallow import Schema, ValidationError, fields
from marshmallow.validate import Length, OneOf, Range, Regexp as BaseRegexp

from taskq.projects import MAX_MINUTES, NAME_MESSAGE, NAME_RE
from taskq.task_types import DUPLICATE_HANDLING, MAX_TEMPLATE, MAX_VARIABLES, TYPE_NAME_MESSAGE, VARIABLE_RE

from ..dts.schemas import TaskSchema as DtsTaskSchema, TaskUpdateSchema as DtsTaskUpdateSchema
from ...services.sessions import MAX_LIFETIME

AGENT_RE = r"^[A-Za-z0-9_.:@\-]{1,128}$"
AGENT_MESSAGE = "Agent name can only contain letters, numbers and - _ . : @ (at most 128)"
MAX_INSTRUCTIONS = 64 * 1024
TD_STATUSES = ("queued", "running", "completed", "failed")


class Regexp(BaseRegexp):
    """The whole value must match (``$`` alone lets a trailing newline through)."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class UUIDString(fields.String):
    """A UUID, in and out as its canonical lower-case text."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise ValidationError("must be a UUID") from None


class Minutes(fields.Float):
    """Minutes: fractions allowed, whole numbers written without '.0'."""

    def _serialize(self, value, attr, obj, **kwargs):
        out = super()._serialize(value, attr, obj, **kwargs)
        return int(out) if isinstance(out, float) and out.is_integer() else out


def _minutes(**kw):
    return Minutes(validate=Range(0, MAX_MINUTES, min_inclusive=False), allow_nan=False, **kw)


_agent = fields.String(validate=Regexp(AGENT_RE, error=AGENT_MESSAGE))
_batch = fields.String(validate=Length(1, 100), metadata={"description": "groups tasks; filter by it"})
_variables = fields.Dict(keys=fields.String(validate=Length(1, 100)), values=fields.Raw(allow_none=True),
                         validate=Length(max=MAX_VARIABLES),
                         metadata={"description": "values for the type's {{placeholders}} "
                                                  "(text, numbers, booleans)"})


# -- auth ----------------------------------------------------------------------
class LoginSchema(Schema):
    agentName = fields.String(required=True, validate=Regexp(AGENT_RE, error=AGENT_MESSAGE),
                              metadata={"example": "my-agent"})
    projectId = UUIDString(required=True, metadata={"example": "550e8400-e29b-41d4-a716-446655440000"})


class LoginResultSchema(Schema):
    sessionId = fields.String(required=True)
    token = fields.String(required=True, metadata={"description": "send as 'Authorization: Bearer <token>'"})
    expiresAt = fields.String(required=True)
    agentName = fields.String()
    projectId = fields.String()


class SessionSchema(Schema):
    sessionId = fields.String(required=True)
    agentName = fields.String(required=True)
    projectId = fields.String(required=True)
    createdAt = fields.String()
    expiresAt = fields.String()
    lastActivity = fields.String()


class SessionExtendSchema(Schema):
    extendBy = fields.Integer(required=True, validate=Range(1, MAX_LIFETIME), metadata={
        "description": "seconds added to the session's expiry", "example": 3600})


class TDMessageSchema(Schema):
    message = fields.String(required=True)


# -- projects --------------------------------------------------------------------
class ConfigSchema(Schema):
    defaultMaxRetries = fields.Integer(validate=Range(0, 1000), metadata={"example": 3})
    defaultLeaseDurationMinutes = _minutes(metadata={"example": 10, "description": "fractions allowed"})
    reaperIntervalMinutes = _minutes(metadata={
        "example": 1, "description": "longest an expired lease waits to be reclaimed; fractions allowed"})


_name = dict(validate=Regexp(NAME_RE, error=NAME_MESSAGE), metadata={"example": "ai-analysis"})


class ProjectCreateSchema(Schema):
    name = fields.String(required=True, **_name)
    description = fields.String(allow_none=True, validate=Length(max=4096))
    instructions = fields.String(allow_none=True, validate=Length(max=MAX_INSTRUCTIONS))
    config = fields.Nested(ConfigSchema)


class ProjectUpdateSchema(Schema):
    name = fields.String(**_name)
    description = fields.String(allow_none=True, validate=Length(max=4096))
    instructions = fields.String(allow_none=True, validate=Length(max=MAX_INSTRUCTIONS))
    status = fields.String(validate=OneOf(("active", "closed")))
    config = fields.Nested(ConfigSchema)


class ProjectListArgsSchema(Schema):
    status = fields.String(load_default="active", validate=OneOf(("active", "closed", "all")))
    limit = fields.Integer(load_default=100, validate=Range(1, 100))
    offset = fields.Integer(load_default=0, validate=Range(0, 1_000_000))


class StatsSchema(Schema):
    totalTasks = fields.Integer(required=True)
    completedTasks = fields.Integer(required=True)
    failedTasks = fields.Integer(required=True)
    queuedTasks = fields.Integer(required=True)
    runningTasks = fields.Integer(required=True)


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
    tasksCompletedLastHour = fields.Integer()
    tasksFailedLastHour = fields.Integer()
    averageTaskDuration = fields.Float(metadata={
        "description": "seconds from lease to completion, over the last hour's completed tasks"})


class ReaperSchema(Schema):
    intervalMinutes = Minutes()
    lastRunAt = fields.String(allow_none=True, metadata={
        "description": "the last sweep: the step or cleanup-leases"})
    nextRunAt = fields.String(allow_none=True)


class ProjectStatsSchema(Schema):
    project = fields.Nested(ProjectRefSchema)
    queueDepth = fields.Integer(metadata={"description": "tasks waiting to be leased"})
    activeAgents = fields.Integer(metadata={"description": "agents holding a live lease"})
    recentActivity = fields.Nested(RecentActivitySchema)
    reaper = fields.Nested(ReaperSchema, metadata={"description": "taskq: the project's lease reaper"})


# -- task types --------------------------------------------------------------------
class _TypeFields(Schema):
    template = fields.String(allow_none=True, validate=Length(max=MAX_TEMPLATE))
    variables = fields.List(fields.String(validate=Regexp(VARIABLE_RE)), validate=Length(max=MAX_VARIABLES))
    duplicateHandling = fields.String(validate=OneOf(DUPLICATE_HANDLING))
    maxRetries = fields.Integer(allow_none=True, validate=Range(0, 1000))
    leaseDurationMinutes = _minutes(allow_none=True)


class TaskTypeCreateSchema(_TypeFields):
    name = fields.String(required=True, validate=Regexp(NAME_RE, error=TYPE_NAME_MESSAGE),
                         metadata={"example": "code-security-analysis"})


class TaskTypeUpdateSchema(_TypeFields):
    name = fields.String(validate=Regexp(NAME_RE, error=TYPE_NAME_MESSAGE))


class TaskTypeSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    projectId = fields.String(required=True)
    template = fields.String(allow_none=True)
    variables = fields.List(fields.String())
    duplicateHandling = fields.String()
    maxRetries = fields.Integer()
    leaseDurationMinutes = Minutes()
    createdAt = fields.String()
    updatedAt = fields.String()


# -- tasks -------------------------------------------------------------------------
class TDTaskCreateSchema(Schema):
    typeId = UUIDString(required=True)
    instructions = fields.String(allow_none=True, validate=Length(max=MAX_INSTRUCTIONS), metadata={
        "description": "used when the type has no template ({{placeholders}} are filled in too)"})
    variables = _variables
    batchId = _batch
    priority = fields.Integer(validate=Range(-1000, 1000), metadata={
        "description": "taskq: higher is leased first (default 0)"})


class BulkSchema(Schema):
    tasks = fields.List(fields.Nested(TDTaskCreateSchema), required=True, validate=Length(1, 1000))
    batchId = _batch


class TDTaskListArgsSchema(Schema):
    status = fields.String(validate=OneOf(TD_STATUSES))
    assignedTo = fields.String(validate=Length(1, 128))
    batchId = fields.String(validate=Length(1, 100))
    typeId = fields.String(validate=Length(1, 64))
    limit = fields.Integer(load_default=100, validate=Range(1, 1000))
    offset = fields.Integer(load_default=0, validate=Range(0, 10_000_000))


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
    retryCount = fields.Integer()
    maxRetries = fields.Integer()
    priority = fields.Integer()


class OffsetPageSchema(Schema):
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)


class BulkResultSchema(Schema):
    batchId = fields.String(required=True)
    tasksCreated = fields.Integer(required=True)
    duplicatesSkipped = fields.Integer()
    errors = fields.List(fields.String())
    tasks = fields.List(fields.Nested(TDTaskSchema))


class UnionTaskSchema(DtsTaskSchema, TDTaskSchema):
    """/api/tasks/{id}: both dialects' fields. ``status``, ``result`` and
    ``error`` take the words of the task's own dialect."""

    status = fields.String(required=True, metadata={"description": "TaskDriver words for a project's task, "
                                                    "DTS words for any other"})
    result = fields.Raw(allow_none=True)


class UnionTaskUpdateSchema(DtsTaskUpdateSchema):
    """PUT /api/tasks/{id}: either dialect's fields."""

    instructions = fields.String(validate=Length(1, MAX_INSTRUCTIONS))
    variables = _variables


# -- agents ------------------------------------------------------------------------
class NextTaskSchema(Schema):
    projectId = UUIDString(metadata={"description": "required unless calling with the agent's session"})


class NextTaskDataSchema(TDTaskSchema):
    """The task, and (taskq) its fields again beside it, so ``data.id`` names
    the task as the document's client example reads it."""

    id = fields.String()
    task = fields.Nested(TDTaskSchema, allow_none=True, required=True)
    agentName = fields.String(required=True)


class NextTaskEnvelopeSchema(Schema):
    success = fields.Boolean(required=True)
    error = fields.String(metadata={"description": "when no task is available (success false, HTTP 200)"})
    data = fields.Nested(NextTaskDataSchema, required=True)


class _AgentBody(Schema):
    agentName = _agent
    projectId = UUIDString()


class CompleteSchema(_AgentBody):
    result = fields.Raw(allow_none=True, metadata={"example": "Security analysis completed successfully."})
    outputs = fields.Dict(load_default=dict, allow_none=True)


class FailSchema(_AgentBody):
    error = fields.String(load_default="task failed", validate=Length(max=8192))
    canRetry = fields.Boolean(load_default=True)


class ExtendLeaseSchema(_AgentBody):
    extensionMinutes = _minutes(required=True, metadata={"example": 30})


class AgentSchema(Schema):
    agentName = fields.String(required=True)
    taskId = fields.String(required=True)
    assignedAt = fields.String(allow_none=True)
    leaseExpiresAt = fields.String(allow_none=True)
    status = fields.String()


class PeekSchema(Schema):
    projectId = fields.String(required=True)
    tasksAvailable = fields.Integer(required=True)


class CleanupSchema(Schema):
    reclaimedTasks = fields.Integer(required=True)
    cleanedAgents = fields.Integer(required=True)
