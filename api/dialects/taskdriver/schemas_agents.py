"""TaskDriver agent schemas: next task, complete, fail, extend, leases."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import Length

from ...schema_extras import extra
from ...schemas import JSONBoolean
from ...shared_tasks.schemas import TDTaskSchema
from .schemas_common import UUIDString, agent_field, minutes_field

SESSION_MAY_OMIT = ("Documented as required: an API key or JWT must give it (422 without); "
                    "an agent session may leave it out (it acts as its own agent in its project).")


@extra(required=["projectId"], description=SESSION_MAY_OMIT)
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


@extra(required=["agentName"], description=SESSION_MAY_OMIT)
class _AgentBody(Schema):
    agentName = agent_field
    projectId = UUIDString()


class CompleteSchema(_AgentBody):
    result = fields.Raw(allow_none=True, metadata={"example": "Security analysis completed successfully."})
    outputs = fields.Dict(load_default=dict, allow_none=True)


class FailSchema(_AgentBody):
    error = fields.String(load_default="task failed", validate=Length(max=8192))
    canRetry = JSONBoolean(load_default=True)


class ExtendLeaseSchema(_AgentBody):
    extensionMinutes = minutes_field(required=True, metadata={"example": 30})


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
