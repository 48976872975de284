"""RRULE lookups at a bounded cost (taskq.schedules.rrules) give the runs
plain dateutil gives: random rules whose DTSTART is close enough before the
time asked about that dateutil's own walk from DTSTART is cheap, compared
run by run. No clock, no Redis."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from dateutil import rrule as dtrrule
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from taskq.options import InvalidField
from taskq.schedules import rrules

FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
SPAN = {"YEARLY": timedelta(days=366 * 60), "MONTHLY": timedelta(days=366 * 15),
        "WEEKLY": timedelta(days=366 * 4), "DAILY": timedelta(days=500),
        "HOURLY": timedelta(days=20), "MINUTELY": timedelta(hours=30), "SECONDLY": timedelta(minutes=40)}
"""How far before the lookup a DTSTART may be, per FREQ: dateutil then
walks a few thousand periods at most."""
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
T0 = datetime(2026, 6, 15, 12, 0, 0)


def values(lo, hi, signed=False, size=3):
    pool = list(range(lo, hi + 1)) + ([-v for v in range(lo, hi + 1)] if signed else [])
    return st.lists(st.sampled_from(pool), min_size=1, max_size=size, unique=True)


@st.composite
def rules(draw):
    freq = draw(st.sampled_from(FREQS))
    t = T0 + timedelta(seconds=draw(st.integers(0, 4 * 366 * 86400)))
    back = SPAN[freq].total_seconds()
    dtstart = t - timedelta(seconds=draw(st.integers(0, int(back))))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 10, 12, 15, 30]))}")
    options = {
        "BYMONTH": values(1, 12), "BYMONTHDAY": values(1, 31, signed=True),
        "BYYEARDAY": values(1, 366, signed=True), "BYWEEKNO": values(1, 53, signed=True),
        "BYHOUR": values(0, 23), "BYMINUTE": values(0, 59), "BYSECOND": values(0, 59),
        "BYSETPOS": values(1, 4, signed=True, size=2), "BYEASTER": values(-3, 60, size=1),
    }
    for name in draw(st.lists(st.sampled_from(sorted(options)), max_size=3, unique=True)):
        parts.append(f"{name}={','.join(map(str, draw(options[name])))}")
    if draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))
        if freq in ("MONTHLY", "YEARLY") and draw(st.booleans()):
            days = [f"{draw(st.sampled_from([1, 2, -1, 3]))}{d}" for d in days]
        parts.append(f"BYDAY={','.join(days)}")
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(DAYS))}")
    ending = draw(st.sampled_from(["", "", "count", "until"]))
    if ending == "count":
        parts.append(f"COUNT={draw(st.integers(1, 40))}")
    elif ending == "until":
        until = t + timedelta(seconds=draw(st.integers(-int(back), int(back))))
        parts.append(f"UNTIL={until:%Y%m%dT%H%M%S}")
    lines = [f"DTSTART:{dtstart:%Y%m%dT%H%M%S}", "RRULE:" + ";".join(parts)]
    if draw(st.booleans()):
        step = max(SPAN[freq] / 200, timedelta(seconds=1))
        dates = sorted({(t + step * draw(st.integers(-3, 30))).replace(microsecond=0) for _ in range(3)})
        lines.append(f"{draw(st.sampled_from(['EXDATE', 'RDATE']))}:" +
                     ",".join(f"{d:%Y%m%dT%H%M%S}" for d in dates))
    return "\n".join(lines), t


class Slow(Exception):
    pass


@contextmanager
def at_most(seconds: float):
    """Raise Slow after ``seconds`` of real time (dateutil's walk of a rule
    that never matches again can take minutes: such an example is dropped)."""
    def ring(*_):
        raise Slow()
    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def plain_runs(text: str, t: datetime, n: int) -> list:
    rset = dtrrule.rrulestr(text, forceset=True, ignoretz=True)
    try:
        with at_most(2):
            return list(rset.xafter(t, count=n))
    except Slow:
        assume(False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(rules())
def test_lookups_find_the_runs_dateutil_walks_to(rule):
    text, t = rule
    try:
        rec = rrules.parse(text, t)
    except InvalidField:
        assume(False)
    try:
        ours = []
        at = t
        for _ in range(3):
            with rrules.metered(), at_most(5):
                nxt = rec.after(at)
            if nxt is None:
                break
            ours.append(nxt)
            at = nxt
    except rrules.ExpressionTooCostly:
        assume(False)
    expected = plain_runs(text, t, len(ours) + 1)
    assert ours == expected[:len(ours)], text
    if len(ours) < 3:
        assert len(expected) == len(ours), text  # ended for both


TOKENS = ["RRULE:", "FREQ=", "YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY",
          ";", "=", ",", "\n", " ", ":", "INTERVAL=", "COUNT=", "UNTIL=", "WKST=", "BYSETPOS=", "BYMONTH=",
          "BYMONTHDAY=", "BYYEARDAY=", "BYWEEKNO=", "BYDAY=", "BYHOUR=", "BYMINUTE=", "BYSECOND=",
          "BYEASTER=", "DTSTART:", "DTSTART;TZID=Europe/Chisinau:", "RDATE:", "EXDATE:", "EXRULE:",
          "RDATE;VALUE=DATE:", "X-NAME=1", "0", "1", "-1", "7", "13", "31", "53", "60", "366", "-367",
          "99999999999999999999", "MO", "2FR", "-60SU", "+1TU", "20260615T120000", "00010101T000000",
          "99991231T235959", "20260615", "Z", "T", "\u00e9", "\x00"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=24).map("".join))
def test_any_text_is_refused_or_evaluated_never_an_error_of_another_kind(text):
    try:
        rec = rrules.parse(text, T0)
    except InvalidField:
        return
    with rrules.metered(), at_most(5):
        try:
            rec.after(T0)
        except InvalidField:
            pass
