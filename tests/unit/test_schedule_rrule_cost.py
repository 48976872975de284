"""What an RRULE costs: any accepted rule is looked up within the budget
(rrule_walk.BUDGET units, counted as dateutil walks), whatever its DTSTART,
FREQ, INTERVAL, UNTIL or lists; what cannot be is refused. Costs are
counted in units (deterministic) and, with a generous bound, in CPU time
(time.process_time: the machine is shared). No clock is read by the code
under test, no Redis."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from taskq.options import InvalidField
from taskq.schedules import rrule_walk, rrules, timing
from taskq.schedules.rrules import ExpressionTooCostly

NOW = datetime(2026, 12, 7, 10, 30, 15)
CPU_BOUND = 0.25
"""Seconds of CPU a whole budget may take here: about 20 ms on an idle
development machine; generous for a loaded or slower one."""
FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")


def cost(text: str, t: datetime = NOW, anchor: datetime = NOW):
    """(next run or the exception, units spent, CPU seconds) of one lookup."""
    rec = rrules.parse(text, anchor)
    with rrules.metered():
        meter = rrule_walk.METER.get()
        started = time.process_time()
        try:
            result = rec.after(t)
        except ExpressionTooCostly as e:
            result = e
        return result, rrule_walk.BUDGET - meter.left, time.process_time() - started


@pytest.mark.parametrize("text,expected", [
    ("DTSTART:00010101T000000\nRRULE:FREQ=SECONDLY", NOW + timedelta(seconds=1)),
    ("DTSTART:20000101T000000\nRRULE:FREQ=SECONDLY", NOW + timedelta(seconds=1)),
    ("DTSTART:00010101T000000\nRRULE:FREQ=SECONDLY;INTERVAL=7", datetime(2026, 12, 7, 10, 30, 21)),
    ("DTSTART:00010101T000003\nRRULE:FREQ=MINUTELY;INTERVAL=13", datetime(2026, 12, 7, 10, 38, 3)),
    ("DTSTART:00010101T000000\nRRULE:FREQ=HOURLY;BYMINUTE=0,30", datetime(2026, 12, 7, 11, 0)),
    ("DTSTART:00010101T093000\nRRULE:FREQ=DAILY", datetime(2026, 12, 8, 9, 30)),
    ("DTSTART:00010101T000000\nRRULE:FREQ=WEEKLY;BYDAY=MO,FR;BYSETPOS=-1", datetime(2026, 12, 11)),
    ("DTSTART:00010131T000000\nRRULE:FREQ=MONTHLY", datetime(2026, 12, 31)),
    ("DTSTART:00040229T120000\nRRULE:FREQ=YEARLY", datetime(2028, 2, 29, 12)),
    ("DTSTART:00010101T000000\nRRULE:FREQ=SECONDLY;BYHOUR=23;BYMINUTE=59", datetime(2026, 12, 7, 23, 59)),
    ("DTSTART:00010101T000000\nRRULE:FREQ=MINUTELY;BYHOUR=9;BYDAY=MO", datetime(2026, 12, 14, 9, 0)),
    ("DTSTART:00010101T000000\nRRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", datetime(2044, 2, 29)),
    ("DTSTART:00010101T000000\nRRULE:FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", datetime(2027, 8, 13)),
    ("DTSTART:00010101T000000\nRRULE:FREQ=DAILY;UNTIL=99991231T000000", datetime(2026, 12, 8)),
    ("DTSTART:00010101T000000\nRRULE:FREQ=SECONDLY;UNTIL=00020101T000000", None),
    ("DTSTART:00010101T000000\nRRULE:FREQ=SECONDLY;COUNT=1000", None),
    ("DTSTART:99991231T000000\nRRULE:FREQ=DAILY", datetime(9999, 12, 31)),
    ("DTSTART:20261207T000000\nRRULE:FREQ=YEARLY;INTERVAL=100", datetime(2126, 12, 7)),
    ("DTSTART:00010101T000000\nRRULE:FREQ=DAILY;INTERVAL=36600", datetime(2105, 5, 11)),
])
def test_old_fine_or_sparse_rules_cost_a_small_part_of_the_budget(text, expected):
    result, units, _ = cost(text)
    assert result == expected
    assert units < rrule_walk.BUDGET // 2, units  # (1000 runs of a COUNT rule: a third)


@pytest.mark.parametrize("freq", FREQS)
@pytest.mark.parametrize("never", ["BYMONTH=2;BYMONTHDAY=30", "BYMONTH=4;BYMONTHDAY=31",
                                   "BYYEARDAY=366;BYMONTH=1", "BYMONTH=2;BYMONTHDAY=29;BYYEARDAY=1"])
def test_a_rule_that_never_runs_again_is_refused_within_the_budget(freq, never):
    result, units, cpu = cost(f"DTSTART:00010101T000000\nRRULE:FREQ={freq};{never}")
    assert isinstance(result, ExpressionTooCostly) or result is None
    assert units <= rrule_walk.BUDGET + 100_000  # at most one period past the budget
    assert cpu < CPU_BOUND


@pytest.mark.parametrize("text", [
    "RRULE:FREQ=DAILY;INTERVAL=36600;BYMONTH=2;BYMONTHDAY=30",
    "RRULE:FREQ=SECONDLY;INTERVAL=3153600000;BYMONTH=2;BYMONTHDAY=30",
    "RRULE:FREQ=HOURLY;BYMINUTE=" + ",".join(map(str, range(60))) + ";BYSECOND=0,30;BYMONTHDAY=31;BYMONTH=4",
    "RRULE:FREQ=YEARLY;BYSETPOS=" + ",".join(map(str, range(1, 60))) + ";BYMONTH=2;BYMONTHDAY=30",
    "RRULE:FREQ=WEEKLY;INTERVAL=3;BYDAY=MO;BYWEEKNO=53;BYMONTH=1;BYMONTHDAY=31",
    "RRULE:FREQ=SECONDLY;INTERVAL=7;BYEASTER=0;BYMONTHDAY=1",
    "RRULE:FREQ=MINUTELY;BYSETPOS=2",
])
def test_the_costliest_shapes_spend_the_budget_in_a_few_milliseconds(text):
    result, units, cpu = cost("DTSTART:00010101T000000\n" + text)
    assert isinstance(result, ExpressionTooCostly) or result is None or units < rrule_walk.BUDGET
    assert cpu < CPU_BOUND, (cpu, units)


def test_metering_sees_dateutils_walk():
    """If dateutil stopped calling the metered helper, nothing would bound a walk."""
    rec = rrules.parse("RRULE:FREQ=YEARLY;INTERVAL=3;BYMONTH=2;BYMONTHDAY=30", NOW)
    with rrules.metered(500), pytest.raises(ExpressionTooCostly):
        rec.after(NOW)
    with rrules.metered(10**12):
        assert rec.after(NOW) is None  # the same walk to the year 9999, unbounded


def test_a_lookup_without_a_meter_gets_the_budget():
    rec = rrules.parse("RRULE:FREQ=DAILY;INTERVAL=7;BYMONTH=2;BYMONTHDAY=30", NOW)
    started = time.process_time()
    with pytest.raises(ExpressionTooCostly):
        rec.after(NOW)
    assert time.process_time() - started < CPU_BOUND


@pytest.mark.parametrize("text,says", [
    ("RRULE:FREQ=DAILY;COUNT=1001", "COUNT must be 1..1000"),
    ("RRULE:FREQ=DAILY;COUNT=0", "COUNT must be 1..1000"),
    ("RRULE:FREQ=DAILY;COUNT=" + "9" * 30, "COUNT must be 1..1000"),
    ("RRULE:FREQ=YEARLY;INTERVAL=101", "INTERVAL must be 1..100"),
    ("RRULE:FREQ=SECONDLY;INTERVAL=" + "9" * 40, "INTERVAL must be 1.."),
    ("RRULE:FREQ=DAILY;BYSECOND=60", "0..59"),
    ("RRULE:FREQ=DAILY;BYMONTH=13", "BYMONTH values must be 1..12"),
    ("RRULE:FREQ=DAILY;BYMONTHDAY=32", "BYMONTHDAY values"),
    ("RRULE:FREQ=DAILY;BYYEARDAY=-367", "BYYEARDAY values"),
    ("RRULE:FREQ=YEARLY;BYWEEKNO=54", "BYWEEKNO values"),
    ("RRULE:FREQ=YEARLY;BYEASTER=300", "BYEASTER values"),
    ("RRULE:FREQ=YEARLY;BYDAY=60MO", "numbered BYDAY"),
    ("RRULE:FREQ=MONTHLY;BYDAY=6FR", "numbered BYDAY"),
    ("RRULE:FREQ=SECONDLY;INTERVAL=7;BYHOUR=9", "needs an INTERVAL that divides 60"),
    ("RRULE:FREQ=MINUTELY;BYHOUR=9;BYSETPOS=1", "needs an INTERVAL that divides 60"),
    ("RRULE:FREQ=YEARLY;BYHOUR=" + ",".join(map(str, range(24))) + ";BYMINUTE=0,30",
     "candidate times per period"),
    ("RRULE:FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24))) + ";BYMINUTE=" +
     ",".join(map(str, range(60))) + ";BYSECOND=" + ",".join(map(str, range(60))), "times of day"),
    ("RRULE:FREQ=DAILY\nEXRULE:FREQ=WEEKLY", "EXRULE is not supported"),
    ("RRULE:FREQ=DAILY\nRRULE:FREQ=WEEKLY", "one RRULE line at most"),
    ("DTSTART:20260101T000000", "no RRULE or RDATE"),
    ("RRULE:FREQ=SOMETIMES", "invalid RRULE"),
    ("RRULE:FREQ=DAILY;UNTIL=never", "invalid RRULE"),
])
def test_costly_or_meaningless_shapes_are_refused_when_parsed(text, says):
    started = time.process_time()
    with pytest.raises(InvalidField) as e:
        rrules.parse(text, NOW)
    assert e.value.field == "schedule_expr" and says in e.value.reason
    assert time.process_time() - started < CPU_BOUND


def test_a_count_rule_must_list_all_its_runs_within_the_budget_when_created():
    after = datetime(2026, 12, 7, tzinfo=timezone.utc)
    ok = "DTSTART:20261207T000000\nRRULE:FREQ=DAILY;BYMONTH=2,3;COUNT=1000"
    assert timing.first_run("rrule", ok, "UTC", after) == datetime(2027, 2, 1, tzinfo=timezone.utc)
    sparse = "DTSTART:20261207T000000\nRRULE:FREQ=WEEKLY;INTERVAL=2;BYMONTHDAY=13;BYDAY=FR;COUNT=1000"
    with pytest.raises(ExpressionTooCostly):
        timing.first_run("rrule", sparse, "UTC", after)
    # the lookup alone would answer: its next run is near, its 1000th centuries away
    assert timing.next_run("rrule", sparse, "UTC", after) is not None


def test_the_reported_rule_is_cheap_to_create_and_to_fire():
    """DTSTART:20000101T000000 + FREQ=SECONDLY: the request never returned."""
    expr = "DTSTART:20000101T000000\nRRULE:FREQ=SECONDLY"
    after = datetime(2026, 12, 7, 10, 30, 15, 250_000, tzinfo=timezone.utc)
    started = time.process_time()
    first = timing.first_run("rrule", expr, "Europe/Chisinau", after)
    runs = [first]
    for _ in range(200):
        runs.append(timing.next_run("rrule", expr, "Europe/Chisinau", runs[-1]))
    assert first == after.replace(microsecond=0) + timedelta(seconds=1)
    assert all(b - a == timedelta(seconds=1) for a, b in zip(runs, runs[1:]))
    assert time.process_time() - started < CPU_BOUND


def test_a_walk_stops_at_until_and_at_the_next_rdate():
    never_again = "DTSTART:20260101T000000\nRRULE:FREQ=WEEKLY;BYMONTH=2;BYMONTHDAY=30;UNTIL=20270101T000000"
    result, units, _ = cost(never_again)
    assert result is None and units < rrule_walk.BUDGET // 20
    result, units, _ = cost(never_again.replace(";UNTIL=20270101T000000", "") + "\nRDATE:20270301T120000")
    assert result == datetime(2027, 3, 1, 12) and units < rrule_walk.BUDGET // 20


def test_nested_metering_is_one_budget():
    rec = rrules.parse("RRULE:FREQ=YEARLY;INTERVAL=3;BYMONTH=2;BYMONTHDAY=30", NOW)
    with rrules.metered(2000):
        with rrules.metered(), pytest.raises(ExpressionTooCostly):  # not a fresh, full budget
            rec.after(NOW)
