"""Schemas every Tasker route shares: the error body, and the field rules
the Tasker document states (``must be present``, semantic versions)."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import Regexp

from taskq.workflows.handlers import NAME_RE, SEMVER_RE

PRESENT = {"required": "must be present", "null": "must be present"}
"""The document's message for a missing field."""
SEMVER_MESSAGE = "must be a valid semantic version"
NAME_MESSAGE = "must be 1-64 lowercase letters, digits, '_' or '-'"


def semver(description: str = "a semantic version, e.g. 2.1.0", **kw) -> fields.String:
    return fields.String(validate=Regexp(SEMVER_RE, error=SEMVER_MESSAGE),
                         metadata={"description": description, "example": "2.1.0"}, **kw)


def name_field(description: str, example: str, **kw) -> fields.String:
    return fields.String(validate=Regexp(NAME_RE, error=NAME_MESSAGE),
                         metadata={"description": description, "example": example}, **kw)


class TaskerErrorDetailSchema(Schema):
    type = fields.String(required=True, metadata={"example": "HandlerNotFound"})
    message = fields.String(required=True)
    code = fields.String(required=True, metadata={"example": "HANDLER_NOT_FOUND"})
    details = fields.Dict(metadata={"description": "on 422: field -> messages; else specifics"})


class TaskerErrorSchema(Schema):
    error = fields.Nested(TaskerErrorDetailSchema, required=True)
