"""Schemas shared by every dialect on /api: the success envelope, the error
body, pagination metadata, a UTC datetime field, and a quick dump of flat
schemas for the hottest answers."""

from __future__ import annotations

from datetime import timezone
from functools import cache

from marshmallow import Schema, ValidationError, fields, missing
from marshmallow.validate import Range

from taskq.isotime import MAX_MS, MIN_MS, iso, to_ms

from .numbers import QueryInt


class UTCDateTime(fields.DateTime):
    """ISO 8601 in, UTC with a Z out (taskq.isotime); a time without a zone
    is read as UTC. Any year from 0001 to 9999 is taken; an offset that moves
    the time out of those years is refused (422), not a 500."""

    def _serialize(self, value, attr, obj, **kwargs):
        return iso(value)

    def _deserialize(self, value, attr, data, **kwargs):
        dt = super()._deserialize(value, attr, data, **kwargs)
        if dt.tzinfo is None:
            return dt.replace(tzinfo=timezone.utc)
        if not MIN_MS <= to_ms(dt) <= MAX_MS:
            raise ValidationError("Not a valid datetime: outside the years 0001 to 9999 in UTC.")
        return dt.astimezone(timezone.utc)


class JSONBoolean(fields.Boolean):
    """A JSON body's boolean: ``true`` or ``false`` only (marshmallow's
    Boolean also takes 0, 1, "yes", "on"..., which the documents' boolean
    type refuses)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if type(value) is not bool:
            raise self.make_error("invalid", input=value)
        return value


class JSONInteger(fields.Integer):
    """A JSON body's integer: a number with no fraction (2.0 is 2). marshmallow's
    Integer also truncates 2.5 to 2 and reads "2", which the documents'
    integer type refuses."""

    def _validated(self, value):
        if type(value) is not int and not (type(value) is float and value.is_integer()):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class ErrorDetailSchema(Schema):
    code = fields.String(required=True, metadata={"description": "machine-readable error code"})
    message = fields.String(required=True)
    details = fields.Dict(metadata={"description": "field errors and other specifics"})


class ErrorSchema(Schema):
    success = fields.Boolean(required=True, metadata={"example": False})
    error = fields.Nested(ErrorDetailSchema, required=True)
    timestamp = fields.String(required=True)
    correlationId = fields.String(required=True)
    validationDetails = fields.List(fields.Dict(), metadata={
        "description": "on validation errors: [{field, message}]"})


class PageMetaSchema(Schema):
    page = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class PageArgsSchema(Schema):
    page = QueryInt(load_default=1, validate=Range(1, 1_000_000),
                          metadata={"description": "page number, from 1"})
    limit = QueryInt(load_default=20, validate=Range(1, 100),
                           metadata={"description": "items per page (max 100)"})


@cache
def envelope(data_schema: type[Schema], many: bool = False, meta_schema: type[Schema] | None = None,
             name: str | None = None) -> type[Schema]:
    """The success envelope around ``data_schema`` (a class, cached so the
    OpenAPI document names each envelope once)."""
    attrs = {
        "success": fields.Boolean(required=True, metadata={"example": True}),
        "data": fields.Nested(data_schema, many=many, required=True),
    }
    if meta_schema is not None:
        attrs["meta"] = fields.Nested(meta_schema, required=True)
    base = data_schema.__name__.removesuffix("Schema")
    return Schema.from_dict(attrs, name=name or f"{base}{'List' if many else ''}Envelope")


class FlatDump:
    """``schema_cls().dump(obj)`` for a flat schema and a dict, calling each
    field's own formatting directly (marshmallow's per-field lookup
    machinery costs as much again as the formatting). The same fields in the
    same order with the same values; a schema this cannot copy exactly (hooks,
    nested or computed fields, data_key, attribute, dump_default) is refused
    when the FlatDump is made."""

    COPYABLE = (fields.String, fields.Integer, fields.Boolean, fields.Raw, fields.Dict, fields.List,
                fields.DateTime)

    def __init__(self, schema_cls: type[Schema]):
        schema = schema_cls()
        if any(schema._hooks.values()):
            raise TypeError(f"{schema_cls.__name__} has hooks: dump it with marshmallow")
        self._fields = []
        for name, field in schema.dump_fields.items():
            parts = [field, getattr(field, "inner", None), getattr(field, "key_field", None),
                     getattr(field, "value_field", None)]
            if (not all(p is None or isinstance(p, self.COPYABLE) for p in parts)
                    or field.data_key is not None or field.attribute is not None
                    or field.dump_default is not missing):
                raise TypeError(f"{schema_cls.__name__}.{name} cannot be copied: dump it with marshmallow")
            self._fields.append((name, field._serialize, self._unchanged(field)))

    @staticmethod
    def _unchanged(field: fields.Field):
        """The type whose values this field dumps as they are (None: only
        None, which every copyable field dumps as None)."""
        kind = type(field)
        if kind is fields.Raw:
            return object
        if getattr(field, "as_string", False):
            return None
        return {fields.String: str, fields.Integer: int, JSONInteger: int, fields.Boolean: bool,
                JSONBoolean: bool}.get(kind)

    def __call__(self, obj: dict) -> dict:
        out = {}
        for name, fmt, same in self._fields:
            if name in obj:
                v = obj[name]
                out[name] = v if v is None or same is object or type(v) is same else fmt(v, name, obj)
        return out
