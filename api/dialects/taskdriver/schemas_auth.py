"""TaskDriver session schemas: login, read and extend a session."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import Range

from ...services.sessions import MAX_LIFETIME
from .schemas_common import AGENT_MESSAGE, AGENT_RE, Regexp, UUIDString

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
