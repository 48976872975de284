"""Next-run arithmetic: pure functions of (kind, expression, timezone, after).

Every expression is evaluated in the schedule's own timezone on *wall
time* (naive local datetimes), then mapped to an instant:

- a wall time that does not exist (the spring-forward gap) moves forward
  by the gap (``dateutil.tz.resolve_imaginary``): a 02:30 job runs at 03:30
  that day, once;
- a wall time that exists twice (fall-back) is taken at its first
  occurrence, and iteration on wall time yields it only once: a 01:30 job
  runs once that day (croniter over aware datetimes would fire it twice).

Nothing here reads a clock: callers pass ``after`` (Redis time when firing).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from dateutil import parser as dtparser
from dateutil import rrule as dtrrule
from dateutil.tz import datetime_exists, resolve_imaginary

from ..options import InvalidField

KINDS = ("cron", "rrule", "once", "event")
UTC = timezone.utc
SHIFT_WINDOW = timedelta(hours=3)
"""How far back an offset change is looked for (changes are at most two hours)."""
MAX_STEPS = 10_000
"""Wall-time candidates examined per lookup before giving up (a guard
against expressions that only ever produce instants already passed; a
per-second cron just after an offset change walks back one hour: 3600)."""


def zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise InvalidField("timezone", "must be an IANA timezone name, e.g. Europe/Chisinau")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidField("timezone", f"unknown timezone {name!r}") from None


def wall_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant of a naive local wall time: first occurrence when it is
    ambiguous, shifted forward by the gap when it does not exist."""
    dt = wall.replace(tzinfo=tz, fold=0)
    if not datetime_exists(dt):
        dt = resolve_imaginary(dt)
    return dt.astimezone(UTC)


def _wall(after: datetime, tz: ZoneInfo) -> datetime:
    return after.astimezone(tz).replace(tzinfo=None)


def parse_once(expr: str, tz: ZoneInfo) -> datetime:
    try:
        dt = datetime.fromisoformat(expr.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise InvalidField("schedule_expr", "must be an ISO 8601 time, e.g. 2026-03-01T09:00:00") from None
    try:
        return wall_to_utc(dt, tz) if dt.tzinfo is None else dt.astimezone(UTC)
    except OverflowError:  # the year 1 or 9999 moved past the calendar's end by its offset
        raise InvalidField("schedule_expr", "is outside the years 0001 to 9999 in UTC") from None


def parse_rrule(expr: str, dtstart_wall: datetime):
    """An rrule over naive wall times. A DTSTART in the text is read as wall
    time in the schedule's timezone; without one, ``dtstart_wall`` is used."""
    try:
        rule = dtrrule.rrulestr(expr.strip(), dtstart=dtstart_wall, ignoretz=True, forceset=True)
        rule.after(dtstart_wall)  # surfaces rules dateutil accepts but cannot evaluate
        return rule
    except (ValueError, TypeError, KeyError, dtparser.ParserError) as e:
        raise InvalidField("schedule_expr", f"invalid RRULE: {e}") from None


def check_cron(expr: str) -> None:
    if not isinstance(expr, str) or not croniter.is_valid(expr.strip()):
        raise InvalidField("schedule_expr", f"invalid cron expression {expr!r}")


def validate(kind: str, expr: str | None, tz_name: str) -> None:
    """Raise InvalidField when the expression cannot be evaluated."""
    tz = zone(tz_name)
    if kind not in KINDS:
        raise InvalidField("schedule_kind", f"must be one of {', '.join(KINDS)}")
    if kind == "event":
        return
    if not isinstance(expr, str) or not expr.strip() or len(expr) > 2000:
        raise InvalidField("schedule_expr", f"required for a {kind} schedule (at most 2000 characters)")
    if kind == "cron":
        check_cron(expr)
    elif kind == "rrule":
        parse_rrule(expr, datetime(2000, 1, 1))
    else:
        parse_once(expr, tz)


def next_run(kind: str, expr: str | None, tz_name: str, after: datetime,
             anchor: datetime | None = None) -> datetime | None:
    """The first run strictly after ``after`` (aware), or None when there is
    none (event schedules, a once time passed, an rrule that ended).
    ``anchor`` is the rrule's DTSTART when its text has none (the schedule's
    creation time)."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    tz = zone(tz_name)
    if kind == "event":
        return None
    if kind == "once":
        at = parse_once(expr, tz)
        return at if at > after else None
    wall = _wall(after, tz)
    # Right after an offset change, wall times a little before ``after``'s
    # may map to instants after it (a gap time moved forward): start earlier.
    shift = after.astimezone(tz).utcoffset() - (after - SHIFT_WINDOW).astimezone(tz).utcoffset()
    wall -= abs(shift)
    if kind == "cron":
        it = _cron_iter(expr.strip(), wall)
        candidates = (it.get_next(datetime) for _ in range(MAX_STEPS))
    elif kind == "rrule":
        start = _wall(anchor or after, tz).replace(microsecond=0)
        candidates = _rrule_walk(_cached_rrule(expr, start), wall)
    else:
        raise InvalidField("schedule_kind", f"must be one of {', '.join(KINDS)}")
    for n, cand in enumerate(candidates):
        instant = wall_to_utc(cand, tz)
        if instant > after:
            return instant
        if n >= MAX_STEPS:
            break
    return None


_local = threading.local()


def _cron_iter(expr: str, start: datetime) -> croniter:
    """A croniter set to ``start``, reused per expression and thread:
    parsing the expression costs more than finding the next time."""
    cache = _local.__dict__.setdefault("cron", {})
    it = cache.get(expr)
    if it is None:
        if len(cache) >= 4096:
            cache.clear()
        it = cache[expr] = croniter(expr, start)
    else:
        it.set_current(start, force=True)
    return it


@lru_cache(maxsize=4096)
def _cached_rrule(expr: str, start: datetime):
    """A parsed rule per (text, DTSTART): parsing costs more than a lookup."""
    return parse_rrule(expr, start)


def _rrule_walk(rule, start: datetime):
    cur = start
    for _ in range(MAX_STEPS):
        nxt = rule.after(cur, inc=False)
        if nxt is None:
            return
        yield nxt
        cur = nxt


def to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
