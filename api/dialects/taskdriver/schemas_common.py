"""Field types and small schemas every TaskDriver resource uses."""

from __future__ import annotations

import re
import uuid

from marshmallow import Schema, ValidationError, fields
from marshmallow.validate import Length, Range, Regexp as BaseRegexp

from taskq.projects.store import MAX_MINUTES

AGENT_RE = r"^[A-Za-z0-9_.:@\-]{1,128}$"
AGENT_MESSAGE = "Agent name can only contain letters, numbers and - _ . : @ (at most 128)"


class Regexp(BaseRegexp):
    """The whole value must match (``$`` alone lets a trailing newline through)."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


UUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
_UUID_RE = re.compile(UUID_PATTERN)


class UUIDString(fields.String):
    """A UUID in its 8-4-4-4-12 hex text (as documented: the other spellings
    uuid.UUID reads, braces, urn: or no dashes, are refused), out as its
    canonical lower-case text."""

    def __init__(self, *args, metadata=None, **kwargs):
        super().__init__(*args, metadata={"format": "uuid", "pattern": UUID_PATTERN, **(metadata or {})},
                         **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _UUID_RE.match(text):
            raise ValidationError("must be a UUID")
        return str(uuid.UUID(text.strip()))


class Minutes(fields.Float):
    """Minutes: fractions allowed, whole numbers written without '.0'."""

    def _serialize(self, value, attr, obj, **kwargs):
        out = super()._serialize(value, attr, obj, **kwargs)
        return int(out) if isinstance(out, float) and out.is_integer() else out


def minutes_field(metadata=None, **kw):
    # apispec writes the Range's minimum but not that it is exclusive
    return Minutes(validate=Range(0, MAX_MINUTES, min_inclusive=False), allow_nan=False,
                   metadata={"exclusiveMinimum": True, **(metadata or {})}, **kw)


agent_field = fields.String(validate=Regexp(AGENT_RE, error=AGENT_MESSAGE))
batch_field = fields.String(validate=Length(1, 100), metadata={"description": "groups tasks; filter by it"})


class TDErrorSchema(Schema):
    """TaskDriver's error body (api.error_styles ``string``): ``error`` is the message."""
    success = fields.Boolean(required=True, metadata={"example": False})
    error = fields.String(required=True, metadata={"description": "the message"})
    code = fields.String(required=True, metadata={"description": "machine-readable error code"})
    timestamp = fields.String(required=True)
    correlationId = fields.String(required=True)
    details = fields.Dict(metadata={"description": "field errors and other specifics"})
    validationDetails = fields.List(fields.Dict(), metadata={
        "description": "on validation errors: [{field, message, value}]"})


class TDMessageSchema(Schema):
    message = fields.String(required=True)


class OffsetPageSchema(Schema):
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
