"""A JSON body schema's load, precompiled for the bodies it accepts as they are.

marshmallow's ``Schema.load`` walks its field machinery for every request
(about a tenth of a create's time). A :class:`FastLoad` is made once from
a flat schema and answers, for a parsed JSON object, either the exact dict
``schema.load`` would return, or None: "not sure, ask marshmallow". It
only says yes to a body whose every value already has the native type its
field deserializes to (a ``str`` for a String, an ``int`` that is not a
bool for an Integer, a ``bool`` for a Boolean, a ``list`` of those for a
List) and passes the field's validators (Length, Range, OneOf); anything
else (a number as text, an unknown key, a missing required field, a value
out of range, a field of another kind) goes to marshmallow, which
converts or answers the same 422 as before. So a request's answer is the
same either way, errors included; only valid bodies take the short path.

A schema this cannot copy exactly (hooks, data_key, attribute, a field's
own pre/post-load functions, ``unknown`` other than RAISE, a load_default
that is callable) gets no FastLoad (:func:`compile_load` returns None).
"""

from __future__ import annotations

from typing import Any, Callable

import marshmallow as ma
from marshmallow import fields
from marshmallow.utils import missing
from marshmallow.validate import Length, OneOf, Range

from .schemas import JSONBoolean, JSONInteger

_SKIP = object()
"""A check's answer for a value it cannot vouch for (marshmallow decides)."""


def _validator(v) -> Callable[[Any], bool] | None:
    """A predicate with the validator's verdict, or None when not copied."""
    if type(v) is Length:
        lo, hi, eq = v.min, v.max, v.equal
        if eq is not None:
            return lambda x: len(x) == eq
        return lambda x: (lo is None or len(x) >= lo) and (hi is None or len(x) <= hi)
    if type(v) is Range:
        lo, hi, lo_in, hi_in = v.min, v.max, v.min_inclusive, v.max_inclusive
        return lambda x: ((lo is None or (x >= lo if lo_in else x > lo))
                          and (hi is None or (x <= hi if hi_in else x < hi)))
    if type(v) is OneOf:
        choices = v.choices
        return lambda x: x in choices
    return None


def _check(field: fields.Field) -> Callable[[Any], Any] | None:
    """value -> the loaded value, or _SKIP; None when the field is not copied."""
    if field.pre_load or field.post_load or field.data_key is not None or field.attribute is not None:
        return None
    tests = [_validator(v) for v in field.validators]
    if any(t is None for t in tests):
        return None
    allow_none = field.allow_none
    kind = type(field)
    if kind is fields.String:
        native = lambda x: type(x) is str  # noqa: E731
    elif kind is fields.Integer or kind is JSONInteger:
        native = lambda x: type(x) is int  # noqa: E731  (bool is not int here: marshmallow refuses it)
    elif kind is fields.Boolean or kind is JSONBoolean:  # both take a bool as it is
        native = lambda x: type(x) is bool  # noqa: E731
    elif kind is fields.List:
        inner = _check(field.inner)
        if inner is None:
            return None

        def native(x):
            return type(x) is list and all(inner(each) is not _SKIP for each in x)

        def load_list(x):
            if x is None:
                return None if allow_none else _SKIP
            if not native(x) or not all(t(x) for t in tests):
                return _SKIP
            return [inner(each) for each in x]
        return load_list
    else:
        return None

    def load(x):
        if x is None:
            return None if allow_none else _SKIP
        if not native(x):
            return _SKIP
        for t in tests:
            if not t(x):
                return _SKIP
        return x
    return load


class FastLoad:
    """``schema.load(body)`` for the bodies it is sure of (else None)."""

    def __init__(self, plan: list, known: frozenset):
        self._plan, self._known = plan, known

    def __call__(self, body: Any) -> dict | None:
        if type(body) is not dict or not self._known.issuperset(body):
            return None
        out = {}
        for name, check, required, default in self._plan:
            value = body.get(name, missing)
            if value is missing:
                if required:
                    return None
                if default is not missing:
                    out[name] = default
                continue
            if check is None:
                return None  # a field marshmallow loads itself
            loaded = check(value)
            if loaded is _SKIP:
                return None
            out[name] = loaded
        return out


def compile_load(schema: ma.Schema) -> FastLoad | None:
    """The FastLoad of ``schema`` (an instance), or None when it cannot be
    copied exactly. Fields of other kinds are kept: a body that holds one
    is left to marshmallow."""
    if any(schema._hooks.values()) or schema.unknown != ma.RAISE or schema.partial:
        return None
    plan = []
    for name, field in schema.load_fields.items():
        if field.data_key is not None or field.attribute is not None or callable(field.load_default):
            return None
        plan.append((name, _check(field), field.required, field.load_default))
    return FastLoad(plan, frozenset(schema.load_fields))
