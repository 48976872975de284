"""Times on the wire, made in one place: ISO 8601 UTC with milliseconds and
a ``Z``, the year always four digits: ``0093-03-01T23:43:30.000Z``
(``strftime('%Y')`` leaves years before 1000 unpadded on glibc). One fixed
width, so the text sorts as the time does.

Every API answer, dashboard view, webhook body and ``--json`` output formats
its times with :func:`iso`; epoch milliseconds and seconds convert exactly
(integer arithmetic, no float rounding at either end of the calendar)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["EPOCH", "MAX_MS", "MIN_MS", "from_ms", "iso", "iso_ms", "to_ms"]

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MS = timedelta(milliseconds=1)
MIN_MS = (datetime(1, 1, 1, tzinfo=timezone.utc) - EPOCH) // ONE_MS
"""0001-01-01T00:00:00Z in epoch milliseconds: the first instant a datetime holds."""
MAX_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc) - EPOCH) // ONE_MS
"""9999-12-31T23:59:59.999Z in epoch milliseconds: the last one."""


def to_ms(dt: datetime) -> int:
    """A datetime as epoch milliseconds (a naive one is UTC), exactly."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return (dt - EPOCH) // ONE_MS


def from_ms(ms: int) -> datetime:
    """Epoch milliseconds as a UTC datetime, clamped to the years 1..9999
    (only a writer that bypassed validation stores a time outside them)."""
    return EPOCH + timedelta(milliseconds=min(max(int(ms), MIN_MS), MAX_MS))


def iso(value: Any) -> str | None:
    """A datetime (naive = UTC) or epoch seconds as ``YYYY-MM-DDTHH:MM:SS.mmmZ``;
    None stays None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        # shifting an offset through epoch ms cannot overflow at year 1 or 9999
        dt = value if value.tzinfo is None or not value.utcoffset() else from_ms(to_ms(value))
    else:
        dt = from_ms(round(float(value) * 1000))
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
            f"{dt.second:02d}.{dt.microsecond // 1000:03d}Z")


def iso_ms(ms: Any) -> str | None:
    """Stored epoch milliseconds (int or text) as :func:`iso` text; None, ''
    and 0 (the engine's "unset") are None."""
    if ms in (None, "") or not int(float(ms)):
        return None
    return iso(from_ms(int(float(ms))))
