"""RRULE schedules at a bounded cost, whatever the rule's DTSTART or FREQ.

dateutil walks a rule period by period from its DTSTART: the next run of
``DTSTART:20000101T000000`` + ``FREQ=SECONDLY`` walks 800 million seconds,
and a rule whose periods never match (``BYMONTH=2;BYMONTHDAY=30``) walks to
the year 9999. Here (the walking itself: taskq.schedules.rrule_walk):

- a lookup walks the rule from the time asked about (``rebased``), not
  from DTSTART; a rule with COUNT counts from DTSTART, so COUNT is at most
  MAX_COUNT and at creation its whole list must fit the budget;
- rules that dateutil walks slowly are rewritten as the same runs at a
  coarser FREQ (``coarsened``);
- every lookup has a budget (rrule_walk.BUDGET): a rule whose next run is
  not found within it (too rare, or never) raises ExpressionTooCostly;
- shapes whose single step is already costly are refused when parsed
  (``check_shape``, ``check_steps``), as are EXRULE and a second RRULE.
"""

from __future__ import annotations

import bisect
import re
from datetime import datetime

from dateutil import parser as dtparser
from dateutil import rrule as dtrrule

from ..options import InvalidField
from .rrule_walk import (DAYS_PER_PERIOD, METER, NOTHING_AFTER, UNIT_SECONDS, Beyond,
                         ExpressionTooCostly, MeteredRule, metered, metered_copy, rebased)

__all__ = ["ExpressionTooCostly", "Recurrence", "metered", "parse"]

MAX_COUNT = 1000
MAX_PERIOD_CANDIDATES = 10_000
"""Candidate times one period may hold (days x times of day): a period is
the unit the meter sees, so one must stay cheap."""
MAX_YEARS_PER_STEP = 100
"""INTERVAL x FREQ at most 100 years."""
EASTER_OFFSETS = (-80, 250)
"""BYEASTER (a dateutil extension) must stay inside the Easter's year."""

_MAX_INTERVAL = {dtrrule.YEARLY: MAX_YEARS_PER_STEP, dtrrule.MONTHLY: 12 * MAX_YEARS_PER_STEP,
                 **{f: MAX_YEARS_PER_STEP * 366 * 86400 // s for f, s in UNIT_SECONDS.items()}}
_FREQ_NAMES = {v: k for k, v in dtrrule._rrulestr._freq_map.items()}
_TIME_LISTS = re.compile(r"(BYHOUR|BYMINUTE|BYSECOND)=([^;\s]*)", re.IGNORECASE)


def coarsened(rule: MeteredRule) -> MeteredRule:
    """The same runs at a coarser FREQ, where that is cheaper to walk:

    - a sub-daily rule filtered by a coarser unit (``FREQ=SECONDLY;BYHOUR=9``,
      ``FREQ=MINUTELY;BYHOUR=9``), for which dateutil searches up to a day at
      every step, becomes MINUTELY or HOURLY listing the seconds / minutes;
    - a rule filtered by day (``BYMONTH=2;BYMONTHDAY=29``) walks a day per
      step at FREQ=HOURLY or DAILY: HOURLY becomes DAILY listing the hours,
      DAILY becomes YEARLY (a year of days filtered in one step).

    A sub-daily rule filtered by day only is rewritten when it gets to
    DAILY that way (before, a step per day is what it costs already). Each
    rewrite needs no BYSETPOS (it counts per period), an INTERVAL that
    divides the coarser unit (1 for DAILY), and few enough times of day."""
    needed = (rule._freq == dtrrule.SECONDLY and (rule._byhour or rule._byminute)) or \
        (rule._freq == dtrrule.MINUTELY and rule._byhour)
    coarse = rule
    while True:
        coarser = _one_step_coarser(coarse)
        if coarser is None:
            break
        coarse = coarser
    return coarse if needed or coarse._freq <= dtrrule.DAILY else rule


def _one_step_coarser(rule: MeteredRule) -> MeteredRule | None:
    if rule._bysetpos:
        return None
    freq, n, d0 = rule._freq, rule._interval, rule._dtstart
    by_day = _day_filtered(rule)
    if freq == dtrrule.SECONDLY and 60 % n == 0 and (rule._byhour or rule._byminute or by_day):
        seconds = [s for s in (rule._bysecond or range(60)) if (s - d0.second) % n == 0]
        return metered_copy(rule, freq=dtrrule.MINUTELY, interval=1, bysecond=seconds)
    if freq == dtrrule.MINUTELY and 60 % n == 0 and (rule._byhour or by_day):
        minutes = [m for m in (rule._byminute or range(60)) if (m - d0.minute) % n == 0]
        return metered_copy(rule, freq=dtrrule.HOURLY, interval=1, byminute=minutes)
    if freq == dtrrule.HOURLY and 24 % n == 0 and by_day:
        hours = [h for h in (rule._byhour or range(24)) if (h - d0.hour) % n == 0]
        if len(hours) * rule._times_per_day <= MAX_PERIOD_CANDIDATES:
            return metered_copy(rule, freq=dtrrule.DAILY, interval=1, byhour=hours)
    if freq == dtrrule.DAILY and n == 1 and by_day and \
            DAYS_PER_PERIOD[dtrrule.YEARLY] * rule._times_per_day <= MAX_PERIOD_CANDIDATES:
        return metered_copy(rule, freq=dtrrule.YEARLY)
    return None


def _day_filtered(rule: dtrrule.rrule) -> bool:
    return any((rule._bymonth, rule._bymonthday, rule._bynmonthday, rule._byyearday,
                rule._byweekno, rule._byweekday, rule._bynweekday, rule._byeaster))


class Recurrence:
    """A parsed RRULE text: its rule (at most one), dates and exclusion dates."""

    def __init__(self, rule: MeteredRule | None, rdates, exdates):
        self.rule = rule
        self.rdates, self.exdates = tuple(sorted(rdates)), frozenset(exdates)

    def after(self, t: datetime) -> datetime | None:
        """The first occurrence strictly after naive ``t``, or None when the
        rule has ended; ExpressionTooCostly when the budget runs out."""
        if METER.get() is None:
            with metered():
                return self.after(t)
        try:
            return self._after(t)
        except InvalidField:
            raise
        except (ValueError, IndexError, OverflowError) as e:  # dateutil finds some rules empty only when walking
            raise InvalidField("schedule_expr", f"invalid RRULE: {e}") from None

    def _after(self, t: datetime) -> datetime | None:
        i = bisect.bisect_right(self.rdates, t)
        date = next((d for d in self.rdates[i:] if d not in self.exdates), None)
        rule = self.rule
        if rule is None or (rule._until is not None and rule._until <= t):
            return date
        rule = rebased(rule, t)
        if rule is NOTHING_AFTER:
            return date
        meter = METER.get()
        # a walk stops past UNTIL, or past the next RDATE (the rule's runs there do not matter)
        meter.horizon = min((d for d in (date, rule._until) if d is not None), default=None)
        try:
            for run in rule:
                if date is not None and run >= date:
                    return date
                if run > t and run not in self.exdates:
                    return run
        except Beyond:
            pass
        finally:
            meter.horizon = None
        return date

    def check_counted(self) -> None:
        """Walk a COUNT rule to its end (its later lookups cost at most that)."""
        if self.rule is not None and self.rule._count is not None:
            for _ in self.rule:
                pass


def _refuse(message: str):
    raise InvalidField("schedule_expr", message)


def check_text(expr: str) -> None:
    """Refusals before dateutil builds anything: a coarse rule listing many
    times of day makes dateutil build that list when it parses."""
    for line in expr.upper().split():
        counts = {k.upper(): len(v.split(",")) for k, v in _TIME_LISTS.findall(line)}
        times = counts.get("BYHOUR", 1) * counts.get("BYMINUTE", 1) * counts.get("BYSECOND", 1)
        if times > MAX_PERIOD_CANDIDATES:
            _refuse(f"at most {MAX_PERIOD_CANDIDATES} times of day (BYHOUR x BYMINUTE x BYSECOND)")


def check_shape(rule: dtrrule.rrule) -> None:
    """Refuse what makes one period (or one lookup) costly whatever the budget."""
    freq, name = rule._freq, _FREQ_NAMES[rule._freq]
    if rule._count is not None and not 1 <= rule._count <= MAX_COUNT:
        _refuse(f"COUNT must be 1..{MAX_COUNT} (runs are counted from DTSTART on every lookup)")
    if not 1 <= rule._interval <= _MAX_INTERVAL[freq]:
        _refuse(f"INTERVAL must be 1..{_MAX_INTERVAL[freq]} for FREQ={name} "
                f"(at most {MAX_YEARS_PER_STEP} years between periods)")
    candidates = DAYS_PER_PERIOD.get(freq, 1) * (len(rule._timeset) if freq < dtrrule.HOURLY else 1)
    if candidates > MAX_PERIOD_CANDIDATES:
        _refuse(f"FREQ={name} with {len(rule._timeset)} times of day makes {candidates} candidate "
                f"times per period (at most {MAX_PERIOD_CANDIDATES}): use a finer FREQ")
    checks = (("BYMONTH", rule._bymonth, 1, 12), ("BYHOUR", rule._byhour, 0, 23),
              ("BYMINUTE", rule._byminute, 0, 59), ("BYSECOND", rule._bysecond, 0, 59),
              ("BYEASTER", rule._byeaster, *EASTER_OFFSETS))
    for part, values, lo, hi in checks:
        if any(not lo <= v <= hi for v in values or ()):
            _refuse(f"{part} values must be {lo}..{hi}")
    signed = (("BYMONTHDAY", tuple(rule._bymonthday) + tuple(rule._bynmonthday), 31),
              ("BYYEARDAY", rule._byyearday, 366), ("BYWEEKNO", rule._byweekno, 53))
    for part, values, hi in signed:
        if any(v == 0 or not -hi <= v <= hi for v in values or ()):
            _refuse(f"{part} values must be 1..{hi} or -{hi}..-1")
    nth = 53 if freq == dtrrule.YEARLY and not rule._bymonth else 5
    if any(n == 0 or abs(n) > nth for _, n in rule._bynweekday or ()):
        _refuse(f"a numbered BYDAY (e.g. 2MO, -1FR) must be 1..{nth} or -{nth}..-1 for FREQ={name}")


def check_steps(rule: dtrrule.rrule) -> None:
    """After ``coarsened``: a sub-daily FREQ still filtered by a coarser
    unit would search up to a day at every step."""
    if (rule._freq == dtrrule.SECONDLY and (rule._byhour or rule._byminute)) or \
            (rule._freq == dtrrule.MINUTELY and rule._byhour):
        _refuse(f"FREQ={_FREQ_NAMES[rule._freq]} with BYHOUR or BYMINUTE needs an INTERVAL that "
                "divides 60 and no BYSETPOS (or use FREQ=HOURLY with BYMINUTE and BYSECOND)")


def parse(expr: str, dtstart: datetime) -> Recurrence:
    """The RRULE text (an RRULE, RDATE, EXDATE and DTSTART lines) over
    naive wall times; without a DTSTART line, ``dtstart``. Raises
    InvalidField naming schedule_expr."""
    check_text(expr)
    try:
        rset = dtrrule.rrulestr(expr.strip(), dtstart=dtstart, ignoretz=True, forceset=True)
        if rset._exrule:
            _refuse("EXRULE is not supported (RFC 5545 removed it): list the exceptions with EXDATE")
        if len(rset._rrule) > 1:
            _refuse("one RRULE line at most (RFC 5545 deprecates more): make one schedule per rule")
        if not rset._rrule and not rset._rdate:
            _refuse("invalid RRULE: no RRULE or RDATE line")
        rule = None
        if rset._rrule:
            check_shape(rset._rrule[0])
            rule = coarsened(metered_copy(rset._rrule[0]))
            check_steps(rule)
    except InvalidField:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, dtparser.ParserError) as e:
        raise InvalidField("schedule_expr", f"invalid RRULE: {e}") from None
    return Recurrence(rule, rset._rdate, rset._exdate)
