"""Next-run arithmetic: pure functions of (kind, expression, timezone, after).

Every expression is evaluated in the schedule's own timezone on *wall
time* (naive local datetimes), then mapped to an instant:

- a wall time that does not exist (the spring-forward gap) moves forward
  by the gap (``dateutil.tz.resolve_imaginary``): a 02:30 job runs at 03:30
  that day, once;
- a wall time that exists twice (fall-back) is taken at its first
  occurrence, and iteration on wall time yields it only once: a 01:30 job
  runs once that day (croniter over aware datetimes would fire it twice).

Every lookup costs a small, bounded amount whatever the expression: an
RRULE is walked from ``after`` under a budget (taskq.schedules.rrules: too
costly is ExpressionTooCostly, an InvalidField), croniter looks at most
CRON_HORIZON_YEARS ahead, and around an offset change a lookup asks for
two candidates at most (``_search_start``).

Nothing here reads a clock: callers pass ``after`` (Redis time when firing).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from dateutil.tz import datetime_exists, resolve_imaginary

from ..options import InvalidField
from . import rrules
from .rrules import ExpressionTooCostly

KINDS = ("cron", "rrule", "once", "event")
UTC = timezone.utc
SHIFT_WINDOW = timedelta(hours=3)
"""How far back an offset change is looked for (changes are at most two hours)."""
MAX_STEPS = 4
"""Candidates examined per lookup: one from the search start, one from
``after``'s wall time when the first one's instant had passed (see
_search_start); more would be a bug, refused rather than looped on."""
CRON_HORIZON_YEARS = 50
"""croniter looks this far ahead: a cron with no run in it has none."""
VALIDATION_START = datetime(2000, 1, 1)
"""DTSTART of an RRULE text checked without a schedule (it has none, or its own)."""


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


def parse_rrule(expr: str, dtstart_wall: datetime) -> rrules.Recurrence:
    """An RRULE text over naive wall times. A DTSTART in the text is read as
    wall time in the schedule's timezone; without one, ``dtstart_wall`` is used."""
    return rrules.parse(expr, dtstart_wall)


def check_cron(expr: str) -> None:
    if not isinstance(expr, str) or not croniter.is_valid(expr.strip()):
        raise InvalidField("schedule_expr", f"invalid cron expression {expr!r}")


def validate(kind: str, expr: str | None, tz_name: str) -> None:
    """Raise InvalidField when the expression cannot be evaluated (whether
    it has a run after now is ``first_run``'s question)."""
    zone(tz_name)
    if kind not in KINDS:
        raise InvalidField("schedule_kind", f"must be one of {', '.join(KINDS)}")
    if kind == "event":
        return
    if not isinstance(expr, str) or not expr.strip() or len(expr) > 2000:
        raise InvalidField("schedule_expr", f"required for a {kind} schedule (at most 2000 characters)")
    if kind == "cron":
        check_cron(expr)
    elif kind == "rrule":
        parse_rrule(expr, VALIDATION_START)
    else:
        parse_once(expr, zone(tz_name))


def first_run(kind: str, expr: str | None, tz_name: str, after: datetime,
              anchor: datetime | None = None) -> datetime | None:
    """``next_run`` with the checks of a schedule being created or changed,
    all within one budget: an RRULE with COUNT must list all its runs, then
    find the next one, within it (a later lookup walks no further than
    the listing did)."""
    with rrules.metered():
        if kind == "rrule":
            _cached_rrule(expr, _rrule_start(expr, anchor or after, zone(tz_name))).check_counted()
        return next_run(kind, expr, tz_name, after, anchor)


def next_run(kind: str, expr: str | None, tz_name: str, after: datetime,
             anchor: datetime | None = None) -> datetime | None:
    """The first run strictly after ``after`` (aware), or None when there is
    none (event schedules, a once time passed, an rrule that ended, a cron
    with no run in croniter's 50 years). ``anchor`` is the rrule's DTSTART
    when its text has none (the schedule's creation time). Raises
    ExpressionTooCostly when the run cannot be found within the budget."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    tz = zone(tz_name)
    if kind == "event":
        return None
    if kind == "once":
        at = parse_once(expr, tz)
        return at if at > after else None
    if kind == "cron":
        following = _cron_following(expr.strip())
    elif kind == "rrule":
        following = _cached_rrule(expr, _rrule_start(expr, anchor or after, tz)).after
    else:
        raise InvalidField("schedule_kind", f"must be one of {', '.join(KINDS)}")
    with rrules.metered():
        return _first_instant_after(following, after, tz)


def _first_instant_after(following, after: datetime, tz: ZoneInfo) -> datetime | None:
    """The instant of the first wall time ``following`` yields whose instant
    is after ``after``: from the search start, then (a candidate whose
    instant had passed) from ``after``'s own wall time."""
    x = _wall(after, tz)
    w = _search_start(after, tz, x)
    for _ in range(MAX_STEPS):
        cand = following(w)
        if cand is None:
            return None
        try:
            instant = wall_to_utc(cand, tz)
        except OverflowError:  # a wall time at the end of the calendar
            return None
        if instant > after:
            return instant
        w = max(cand, x)
    raise ExpressionTooCostly("no run found after the offset change")


def _search_start(after: datetime, tz: ZoneInfo, x: datetime) -> datetime:
    """The wall time after which runs are searched: ``after``'s own (``x``),
    unless the UTC offset changed in the SHIFT_WINDOW before it. After a
    spring-forward, wall times in the gap still to come (moved forward by
    the gap) may lie before ``x``; inside the repeated hour of a fall-back,
    the wall times up to its end ran in its first pass."""
    before = after - SHIFT_WINDOW
    off_before, off_now = before.astimezone(tz).utcoffset(), after.astimezone(tz).utcoffset()
    if off_before == off_now:
        return x
    lo, hi = before, after
    while hi - lo > timedelta(milliseconds=1):  # the change, to the millisecond
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == off_before:
            lo = mid
        else:
            hi = mid
    change_wall = (hi.replace(microsecond=0) + off_before).replace(tzinfo=None)  # in the old offset
    shift = off_now - off_before
    if shift > timedelta(0):  # the gap [change_wall, change_wall + shift)
        return max(change_wall, x - shift)
    return max(x, change_wall - timedelta(seconds=1))  # the repeated hour ends at change_wall


def _rrule_start(expr: str, anchor: datetime, tz: ZoneInfo) -> datetime:
    """The DTSTART of an RRULE text without its own (the anchor's wall
    time); a text with one ignores it, so it is not part of the cache key."""
    if "DTSTART" in expr.upper():
        return VALIDATION_START
    return _wall(anchor, tz).replace(microsecond=0)


_local = threading.local()


def _cron_iter(expr: str, start: datetime) -> croniter:
    """A croniter set to ``start``, reused per expression and thread:
    parsing the expression costs more than finding the next time."""
    cache = _local.__dict__.setdefault("cron", {})
    it = cache.get(expr)
    if it is None:
        if len(cache) >= 4096:
            cache.clear()
        it = cache[expr] = croniter(expr, start, max_years_between_matches=CRON_HORIZON_YEARS)
    else:
        it.set_current(start, force=True)
    return it


def _cron_following(expr: str):
    """The first wall time after a wall time, or None: croniter searches at
    most CRON_HORIZON_YEARS ahead (``0 0 30 2 *`` never runs)."""
    def following(wall: datetime) -> datetime | None:
        try:
            return _cron_iter(expr, wall).get_next(datetime)
        except CroniterBadDateError:
            return None
    return following


@lru_cache(maxsize=4096)
def _cached_rrule(expr: str, start: datetime) -> rrules.Recurrence:
    """A parsed rule per (text, DTSTART): parsing costs more than a lookup."""
    return parse_rrule(expr, start)


def to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
