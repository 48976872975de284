"""Field types and small schemas every TaskDriver resource uses."""

from __future__ import annotations

import uuid

from marshmallow import Schema, ValidationError, fields
from marshmallow.validate import Length, Range, Regexp as BaseRegexp

from taskq.projects import MAX_MINUTES

AGENT_RE = r"^[A-Za-z0-9_.:@\-]{1,128}$"
AGENT_MESSAGE = "Agent name can only contain letters, numbers and - _ . : @ (at most 128)"


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


def minutes_field(**kw):
    return Minutes(validate=Range(0, MAX_MINUTES, min_inclusive=False), allow_nan=False, **kw)


agent_field = fields.String(validate=Regexp(AGENT_RE, error=AGENT_MESSAGE))
batch_field = fields.String(validate=Length(1, 100), metadata={"description": "groups tasks; filter by it"})


class TDMessageSchema(Schema):
    message = fields.String(required=True)


class OffsetPageSchema(Schema):
    total = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
