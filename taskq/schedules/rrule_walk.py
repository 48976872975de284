"""Walking an RRULE at a metered, bounded cost (the engine of
taskq.schedules.rrules, which says what is refused and why).

- ``metered``: every walk inside charges one meter. A period scanned, a day
  filtered, a candidate time made cost units (about 0.1 us of CPU each on
  the development machine; tests/unit/test_schedule_rrule_cost.py bounds
  what a whole budget takes); running out raises ExpressionTooCostly. A meter may also carry a horizon: a walk
  past it stops (its runs are not wanted).
- ``MeteredRule``: a dateutil rrule walked by dateutil's own code
  (``rrule._iter``) run with its per-walk helper class replaced by a
  metered subclass; dateutil itself is not patched for anyone else.
- ``rebased``: the rule walking from a given time rather than from its
  DTSTART: it starts in the period of its own sequence (DTSTART + k x
  INTERVAL x FREQ) that holds that time, with every value dateutil derived
  from DTSTART pinned, so its runs from there on are the original's. A
  rule started in the year 1 costs what one started yesterday does.
"""

from __future__ import annotations

import copy
import types
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta

from dateutil import rrule as dtrrule

from ..options import InvalidField

BUDGET = 200_000
"""Units one lookup (or one creation check) may spend: about 20 ms of CPU
when all spent, on the development machine."""
PERIOD_UNITS = 50
"""Units a period costs beside its days: the step from one period to the next."""
YEAR_UNITS = 60
"""Units a new year costs: dateutil rebuilds its masks for the year."""
CANDIDATE_UNITS = 4
"""Units a candidate time costs (made from a day and a time of day, compared)."""
BUILD_UNITS = 8
"""Units a time of day costs a sub-daily period, which builds its list anew."""
UNIT_SECONDS = {dtrrule.WEEKLY: 7 * 86400, dtrrule.DAILY: 86400, dtrrule.HOURLY: 3600,
                dtrrule.MINUTELY: 60, dtrrule.SECONDLY: 1}
DAYS_PER_PERIOD = {dtrrule.YEARLY: 366, dtrrule.MONTHLY: 31, dtrrule.WEEKLY: 7}


class ExpressionTooCostly(InvalidField):
    """The next run cannot be found within the budget (it is too far away,
    or there is none)."""

    def __init__(self, message: str = "no run is found within the evaluation budget: its runs are "
                                      "too rare, or it never runs"):
        super().__init__("schedule_expr", message)


class Beyond(Exception):
    """A walk passed the meter's horizon: the runs there are not wanted."""


class _Meter:
    __slots__ = ("left", "horizon")

    def __init__(self, budget: int):
        self.left = budget
        self.horizon: datetime | None = None

    def charge(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise ExpressionTooCostly()


METER: ContextVar[_Meter | None] = ContextVar("taskq_rrule_meter", default=None)


@contextmanager
def metered(budget: int = BUDGET):
    """Every walk inside shares one budget of ``budget`` units; inside
    another ``metered``, the outer budget (one operation, one budget)."""
    if METER.get() is not None:
        yield
        return
    token = METER.set(_Meter(budget))
    try:
        yield
    finally:
        METER.reset(token)


class _MeteredInfo(dtrrule._iterinfo):
    """dateutil's per-walk helper, charging the meter once per period (the
    day set it hands out) and once per year (the masks it rebuilds)."""

    __slots__ = ("meter", "period_units", "times", "last")

    def __init__(self, rule):
        for attr in dtrrule._iterinfo.__slots__:
            setattr(self, attr, None)
        self.rrule = rule
        self.meter = METER.get() or _Meter(BUDGET)
        self.period_units, self.times = rule._period_units, rule._times_per_day
        self.last = None

    def rebuild(self, year, month):
        if year != self.lastyear:
            self.meter.charge(YEAR_UNITS)
        dtrrule._iterinfo.rebuild(self, year, month)

    def _charge(self, dayset, year, month, day):
        horizon = self.meter.horizon
        if horizon is not None and (year, month, day) > (horizon.year, horizon.month, horizon.day):
            raise Beyond()
        dset, start, end = dayset
        if self.last is not None:  # the candidate times the previous period made
            pset, pstart, pend = self.last
            part = pset[pstart:pend]
            self.meter.charge((len(part) - part.count(None)) * self.times * CANDIDATE_UNITS)
        self.meter.charge(self.period_units + (end - start))
        self.last = dayset
        return dayset

    def ydayset(self, year, month, day):
        return self._charge(dtrrule._iterinfo.ydayset(self, year, month, day), year, 1, 1)

    def mdayset(self, year, month, day):
        return self._charge(dtrrule._iterinfo.mdayset(self, year, month, day), year, month, 1)

    def wdayset(self, year, month, day):
        return self._charge(dtrrule._iterinfo.wdayset(self, year, month, day), year, month, day)

    def ddayset(self, year, month, day):
        return self._charge(dtrrule._iterinfo.ddayset(self, year, month, day), year, month, day)


if "_iterinfo" not in dtrrule.rrule._iter.__code__.co_names:  # pragma: no cover
    raise ImportError("dateutil's rrule._iter no longer uses _iterinfo: RRULE metering needs updating")
_GLOBALS = dict(vars(dtrrule), _iterinfo=_MeteredInfo)
_metered_iter = types.FunctionType(dtrrule.rrule._iter.__code__, _GLOBALS, "_iter",
                                   dtrrule.rrule._iter.__defaults__, dtrrule.rrule._iter.__closure__)


class MeteredRule(dtrrule.rrule):
    """An rrule whose walks charge the current meter (see ``metered``)."""

    _iter = _metered_iter

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        freq, n = self._freq, self._interval
        if freq < dtrrule.HOURLY:
            times = len(self._timeset)
        elif freq == dtrrule.HOURLY:
            times = len(self._byminute) * len(self._bysecond)
        elif freq == dtrrule.MINUTELY:
            times = len(self._bysecond)
        else:
            times = 1
        self._times_per_day = times
        # the inner search of a sub-daily step for an hour / minute / second that matches
        if freq == dtrrule.HOURLY:
            inner = 24 if self._byhour else 1
        elif freq == dtrrule.MINUTELY:
            inner = 1440 * 3 if self._byhour else 60 if self._byminute else 1
        elif freq == dtrrule.SECONDLY:
            inner = 86400 * 3 if self._byhour or self._byminute else 60 if self._bysecond else 1
        else:
            inner = 0
        # a long step walks month by month (dateutil's day overflow)
        step_days = n * UNIT_SECONDS[freq] // 86400 if freq in UNIT_SECONDS else 0
        # a sub-daily step builds its period's times of day anew
        built = BUILD_UNITS * times if freq >= dtrrule.HOURLY else 0
        self._period_units = PERIOD_UNITS + inner + built + step_days // 6 + \
            (len(self._bysetpos or ()) * DAYS_PER_PERIOD.get(freq, 1))


def rule_kwargs(rule: dtrrule.rrule, **over) -> dict:
    """The arguments that rebuild ``rule`` on another DTSTART: every BYxxx
    value it uses, those dateutil derived from its DTSTART included (the
    time of day, the day of a monthly rule, the month and day of a yearly
    one), so a new DTSTART changes nothing but where the walk begins."""
    weekdays = [dtrrule.weekday(d) for d in rule._byweekday or ()] + \
               [dtrrule.weekday(d, n) for d, n in rule._bynweekday or ()]
    kw = dict(freq=rule._freq, interval=rule._interval, wkst=rule._wkst, until=rule._until,
              count=rule._count, bysetpos=rule._bysetpos, bymonth=rule._bymonth,
              bymonthday=tuple(rule._bymonthday) + tuple(rule._bynmonthday),
              byyearday=rule._byyearday, byeaster=rule._byeaster, byweekno=rule._byweekno,
              byweekday=weekdays or None, byhour=rule._byhour, byminute=rule._byminute,
              bysecond=rule._bysecond)
    kw.update(over)
    return kw


def metered_copy(rule: dtrrule.rrule, dtstart: datetime | None = None, **over) -> MeteredRule:
    return MeteredRule(dtstart=dtstart or rule._dtstart, **rule_kwargs(rule, **over))


def _month_start(index: int) -> datetime:
    """The first of month ``index`` (year * 12 + month - 1)."""
    year, month0 = divmod(index, 12)
    return datetime(year, month0 + 1, 1)


def aligned_period(rule: dtrrule.rrule, t: datetime) -> tuple[datetime, datetime, datetime]:
    """(start, end, next start) of the period of the rule's own sequence
    (FREQ x INTERVAL from DTSTART) that holds ``t`` or is the last before
    it. Raises OverflowError/ValueError past the year 9999."""
    d0, freq, n = rule._dtstart, rule._freq, rule._interval
    if freq == dtrrule.YEARLY:
        year = d0.year + (t.year - d0.year) // n * n
        return datetime(year, 1, 1), datetime(year + 1, 1, 1), datetime(year + n, 1, 1)
    if freq == dtrrule.MONTHLY:
        first = d0.year * 12 + d0.month - 1
        index = first + (t.year * 12 + t.month - 1 - first) // n * n
        return _month_start(index), _month_start(index + 1), _month_start(index + n)
    if freq == dtrrule.WEEKLY:
        def week(x: datetime) -> datetime:
            day = datetime(x.year, x.month, x.day)
            return day - timedelta(days=(day.weekday() - rule._wkst) % 7)
        unit = timedelta(days=7)
        base = week(d0)
    else:
        unit = timedelta(seconds=UNIT_SECONDS[freq])
        base = datetime(d0.year, d0.month, d0.day) + (d0 - datetime(d0.year, d0.month, d0.day)) // unit * unit
    start = base + (t - base) // unit // n * n * unit
    return start, start + unit, start + n * unit


NOTHING_AFTER = object()


def rebased(rule: MeteredRule, t: datetime):
    """``rule`` walking from ``t`` (naive) rather than from its DTSTART, with
    the same runs after ``t``; NOTHING_AFTER when its periods end before
    the year 9999 does. A rule with COUNT is returned as it is (its runs are
    counted from DTSTART)."""
    t = t.replace(microsecond=0)
    if rule._count is not None or t <= rule._dtstart:
        return rule
    try:
        start, end, following = aligned_period(rule, t)
    except (OverflowError, ValueError):
        return NOTHING_AFTER
    if t >= end:  # between two periods: none of this one's runs is after t
        begin = following
    elif rule._freq == dtrrule.WEEKLY and rule._bysetpos:
        # BYSETPOS counts in the whole week, and dateutil cuts a first week at DTSTART
        if start <= rule._dtstart:
            return rule
        begin = start
    else:  # dateutil's first period is whole (but a week's): runs before t are skipped
        begin = t
    return _starting(rule, begin)


def _starting(rule: MeteredRule, begin: datetime) -> MeteredRule:
    """``rule`` with DTSTART ``begin``, the values dateutil derived from the
    old one kept: what ``metered_copy`` builds when ``begin`` is in the
    rule's own sequence (rebased), without building its times of day again."""
    new = copy.copy(rule)
    new._dtstart = begin
    return new
