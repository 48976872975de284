"""Whole numbers from query strings and forms, parsed in one place (DESIGN
invariant 12).

Python's ``int()`` reads far more than a client means by a number: any
Unicode decimal digits (``'١٢'`` is 12, fullwidth ``'１'`` is 1), spaces
around them, underscores (``'1_000'``), and thousands of digits at a cost
that grows with their count; ``str.isdigit()`` accepts ``'²'``, which
``int()`` then refuses. Here a number is ASCII only: an optional sign and
digits ``0-9`` (``'+1'``, ``'-0'`` and ``'007'`` read as 1, 0 and 7), at
most :data:`MAX_DIGITS` of them once leading zeros are dropped; anything
else is refused before any conversion.

Every query or form number of every dialect and the dashboard comes through
:func:`parse_int`: dialects through the marshmallow field :class:`QueryInt`
(its refusal is the dialect's own 422), the dashboard directly (its 400 or
422 with a code).
"""

from __future__ import annotations

import re

from marshmallow import fields

MAX_DIGITS = 18
"""Significant digits a number may have: every bound we check is far below
10**18, and a longer number is never converted (invariant 10: bounded work
per input); it is refused, or read as the ceiling of a field that has one."""
_WHOLE = re.compile(r"([+-]?)0*([0-9]+)")


class NotANumber(ValueError):
    """The text is not a whole number (ASCII digits, optional sign)."""


def parse_int(text: str | None, lo: int | None = None, hi: int | None = None,
              ceiling: int | None = None) -> int:
    """``text`` as an int within ``lo..hi`` (either end may be open), a
    number above ``ceiling`` (however long) read as ``ceiling``; NotANumber
    (a ValueError whose message says what is expected) otherwise."""
    m = _WHOLE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise NotANumber(_expected(lo, hi))
    sign, digits = m.groups()
    if len(digits) > MAX_DIGITS:
        if ceiling is None or sign == "-":
            raise NotANumber(_expected(lo, hi))
        return ceiling
    value = min(int(sign + digits), ceiling) if ceiling is not None else int(sign + digits)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise NotANumber(_expected(lo, hi))
    return value


def _expected(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"must be a whole number from {lo} to {hi}"
    if lo is not None:
        return f"must be a whole number of at least {lo}"
    if hi is not None:
        return f"must be a whole number of at most {hi}"
    return "must be a whole number (ASCII digits 0-9)"


class QueryInt(fields.Integer):
    """An integer from a query string or form, read by :func:`parse_int`
    (bounds stay the field's ``validate=Range``, so the OpenAPI document
    shows them; ``ceiling``: larger numbers, however long, read as it).
    An int (a JSON body) is taken as marshmallow takes it."""

    default_error_messages = {"invalid": "Not a valid integer (ASCII digits 0-9)."}

    def __init__(self, *args, ceiling: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.ceiling = ceiling

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            try:
                value = parse_int(value, ceiling=self.ceiling)
            except NotANumber:
                raise self.make_error("invalid") from None
        return super()._deserialize(value, attr, data, **kwargs)
