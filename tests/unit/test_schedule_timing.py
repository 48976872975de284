"""Next-run arithmetic of schedules: pure functions, no clock, no Redis.

The DST days checked: America/New_York springs forward on 2026-03-08
(02:00 -> 03:00) and falls back on 2026-11-01 (02:00 -> 01:00);
Europe/Chisinau springs forward on 2026-03-29 (02:00 -> 03:00) and falls
back on 2026-10-25 (03:00 -> 02:00).
"""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from taskq.options import InvalidField
from taskq.schedules import model
from taskq.schedules.firing import MISFIRE_GRACE_MS, plan
from taskq.schedules.timing import next_run, to_ms

UTC = timezone.utc


def runs(kind, expr, tz, start, until):
    out, at = [], start
    while True:
        at = next_run(kind, expr, tz, at, anchor=start)
        if at is None or at >= until:
            return out
        out.append(at.astimezone(ZoneInfo(tz)))


def local_noon(day, tz):
    return datetime.combine(day, datetime.min.time()).replace(hour=12, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def on_day(times, day):
    return [t for t in times if t.date() == day]


CASES = [
    # (timezone, fall-back day, spring-forward day, daily wall time in the fold, in the gap)
    ("America/New_York", datetime(2026, 11, 1).date(), datetime(2026, 3, 8).date(), (1, 30), (2, 30)),
    ("Europe/Chisinau", datetime(2026, 10, 25).date(), datetime(2026, 3, 29).date(), (2, 30), (2, 30)),
]
EXPRS = {
    "cron": lambda h, m: f"{m} {h} * * *",
    "rrule": lambda h, m: f"RRULE:FREQ=DAILY;BYHOUR={h};BYMINUTE={m};BYSECOND=0",
}


@pytest.mark.parametrize("kind", sorted(EXPRS))
@pytest.mark.parametrize("tz,fall,spring,fold,gap", CASES)
def test_a_daily_job_in_the_repeated_hour_runs_once_on_the_fall_back_day(kind, tz, fall, spring, fold, gap):
    start = local_noon(fall - timedelta(days=2), tz)
    times = runs(kind, EXPRS[kind](*fold), tz, start, start + timedelta(days=5))
    assert len(times) == 5  # one a day, no doubles
    (that_day,) = on_day(times, fall)
    assert (that_day.hour, that_day.minute) == fold
    assert that_day.fold == 0  # the first of the two 01:30s (02:30s)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(timedelta(hours=23) <= g <= timedelta(hours=25) for g in gaps)


@pytest.mark.parametrize("kind", sorted(EXPRS))
@pytest.mark.parametrize("tz,fall,spring,fold,gap", CASES)
def test_a_daily_job_in_the_skipped_hour_runs_once_on_the_spring_forward_day(kind, tz, fall, spring, fold, gap):
    start = local_noon(spring - timedelta(days=2), tz)
    times = runs(kind, EXPRS[kind](*gap), tz, start, start + timedelta(days=5))
    assert len(times) == 5
    (that_day,) = on_day(times, spring)
    # 02:30 does not exist that day: the run moves forward by the gap, once
    assert (that_day.hour, that_day.minute) == (gap[0] + 1, gap[1])
    before, after = on_day(times, spring - timedelta(days=1)), on_day(times, spring + timedelta(days=1))
    assert (before[0].hour, after[0].hour) == (gap[0], gap[0])


@pytest.mark.parametrize("tz,fall", [("America/New_York", datetime(2026, 11, 1)),
                                     ("Europe/Chisinau", datetime(2026, 10, 25))])
def test_an_hourly_cron_never_fires_one_wall_time_twice(tz, fall):
    start = fall.replace(tzinfo=ZoneInfo(tz)) - timedelta(hours=1)
    times = runs("cron", "0 * * * *", tz, start.astimezone(UTC), start.astimezone(UTC) + timedelta(hours=6))
    walls = [t.replace(tzinfo=None, fold=0) for t in times]
    # five whole hours strictly inside the window, one of them a repeated wall hour: 4 runs
    assert len(walls) == len(set(walls)) == 4


def test_next_run_from_inside_the_repeated_hour_is_strictly_later():
    tz = ZoneInfo("America/New_York")
    inside = datetime(2026, 11, 1, 1, 45, fold=1, tzinfo=tz).astimezone(UTC)  # the second 01:45
    nxt = next_run("cron", "*/30 * * * *", "America/New_York", inside)
    assert nxt > inside and nxt - inside <= timedelta(minutes=30)


def test_rrule_with_dtstart_counts_from_it_and_ends():
    expr = "DTSTART:20260320T093000\nRRULE:FREQ=WEEKLY;COUNT=3"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = runs("rrule", expr, "Europe/Chisinau", start, datetime(2027, 1, 1, tzinfo=UTC))
    assert [t.date().isoformat() for t in times] == ["2026-03-20", "2026-03-27", "2026-04-03"]
    assert all((t.hour, t.minute) == (9, 30) for t in times)  # wall time kept across the change


def test_once_is_read_in_the_schedule_timezone_unless_it_has_an_offset():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_run("once", "2026-06-01T09:00:00", "Europe/Chisinau", start) == \
        datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    assert next_run("once", "2026-06-01T09:00:00Z", "Europe/Chisinau", start) == \
        datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    assert next_run("once", "2025-06-01T09:00:00Z", "UTC", start) is None
    assert next_run("event", None, "UTC", start) is None


HOUR = 3600_000
HOURLY = {"id": "x", "schedule_kind": "cron", "schedule_expr": "0 * * * *", "timezone": "UTC",
          "misfire_policy": "run_once"}


def test_misfire_run_once_fires_late_once_and_continues_from_now():
    due = to_ms(datetime(2026, 5, 1, 10, tzinfo=UTC))
    now = due + 5 * HOUR + 60_000  # down for five hours
    nxt, skip = plan(HOURLY, due, now)
    assert not skip and int(nxt) == due + 6 * HOUR  # the next after now, not due + 1 h


def test_misfire_skip_records_no_run_and_continues_from_now():
    due = to_ms(datetime(2026, 5, 1, 10, tzinfo=UTC))
    nxt, skip = plan({**HOURLY, "misfire_policy": "skip"}, due, due + 5 * HOUR + 60_000)
    assert skip and int(nxt) == due + 6 * HOUR


def test_a_fire_inside_the_grace_is_on_time_whatever_the_policy():
    due = to_ms(datetime(2026, 5, 1, 10, tzinfo=UTC))
    nxt, skip = plan({**HOURLY, "misfire_policy": "skip"}, due, due + MISFIRE_GRACE_MS - 1)
    assert not skip and int(nxt) == due + HOUR


GOOD = {"title": "t", "description": "d", "schedule_kind": "cron", "schedule_expr": "0 * * * *",
        "payload": {"callable": "mod:fn"}, "created_by": "6a1f4a6c-7c43-4d4c-9a0b-3d1a7b2f9c11"}


@pytest.mark.parametrize("changes,field", [
    ({"payload": {"pipeline": []}}, "payload.pipeline"),
    ({"payload": {"pipeline": [{"step": "nope"}]}}, "payload.pipeline[0].step"),
    ({"payload": {"pipeline": [{"step": "echo", "depends_on": ["later"]}]}}, "payload.pipeline[0].depends_on"),
    ({"payload": {"pipeline": [{"step": "echo"}, {"step": "echo"}]}}, "payload.pipeline[1].name"),
    ({"payload": {"pipeline": [{"step": "echo", "args": [1]}]}}, "payload.pipeline[0].args"),
    ({"payload": {"callable": "nocolon"}}, "payload.callable"),
    ({"payload": {"callable": "m:f", "pipeline": []}}, "payload"),
    ({"payload": "{not json"}, "payload"),
    ({"payload": [1]}, "payload"),
    ({"priority": 0}, "priority"), ({"priority": 10}, "priority"), ({"priority": True}, "priority"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"schedule_kind": "weekly"}, "schedule_kind"),
    ({"created_by": "me"}, "created_by"),
    ({"backoff_strategy": "random"}, "backoff_strategy"),
    ({"misfire_policy": "twice"}, "misfire_policy"),
    ({"title": None}, "title"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_fields_are_refused_with_their_name(changes, field):
    with pytest.raises(InvalidField) as e:
        fields = model.clean({**GOOD, **changes})
        model.check_whole(fields)
    assert e.value.field == field


@pytest.mark.parametrize("kind,expr", [("cron", "61 * * * *"), ("cron", None), ("rrule", "FREQ=SOMETIMES"),
                                       ("once", "tomorrow"), ("rrule", None)])
def test_bad_expressions_are_refused_on_schedule_expr(kind, expr):
    with pytest.raises(InvalidField) as e:
        model.check_whole(model.clean({**GOOD, "schedule_kind": kind, "schedule_expr": expr}))
    assert e.value.field == "schedule_expr"


def test_the_payload_text_is_kept_exactly():
    text = '{"callable": "m:f", "args": [12345678901234567890, []], "kwargs": {}}'
    assert model.clean({**GOOD, "payload": text})["payload"] == text


def test_priority_one_is_the_engine_highest():
    assert model.engine_priority(1) > model.engine_priority(5) > model.engine_priority(9)


@pytest.mark.parametrize("tz,when", [("America/New_York", datetime(2026, 11, 1, 7, 0, 1, tzinfo=UTC)),
                                     ("America/New_York", datetime(2026, 3, 8, 7, 0, 1, tzinfo=UTC)),
                                     ("Europe/Chisinau", datetime(2026, 10, 25, 1, 0, 1, tzinfo=UTC))])
def test_a_per_second_cron_keeps_running_right_after_an_offset_change(tz, when):
    nxt = next_run("cron", "* * * * * *", tz, when)
    assert nxt is not None and timedelta(0) < nxt - when <= timedelta(seconds=1)


def test_inside_the_repeated_hour_a_wall_time_already_run_is_not_run_again():
    # 06:10Z is the second 01:10 in New York: 01:10..01:59 ran in the first pass
    nxt = next_run("cron", "* * * * * *", "America/New_York", datetime(2026, 11, 1, 6, 10, tzinfo=UTC))
    assert nxt == datetime(2026, 11, 1, 7, 0, 0, tzinfo=UTC)  # 02:00 EST, the first new wall time


@pytest.mark.parametrize("expr", ["0 0 30 2 *", "0 0 31 4 *", "0 0 1 1 * 0 2020", "0 0 31 2,4,6,9,11 *",
                                  "0 0 1 1 * 0 2099"])
def test_a_cron_that_never_runs_again_has_no_next_run(expr):
    """croniter searches 50 years ahead (CroniterBadDateError past that): no run."""
    assert next_run("cron", expr, "Europe/Chisinau", datetime(2026, 12, 7, tzinfo=UTC)) is None


def following_counted(kind, expr, tz, after):
    """next_run, counting the wall-time candidates it asked for."""
    from taskq.schedules import timing
    calls = []
    if kind == "cron":
        inner = timing._cron_following(expr)
    else:
        inner = timing._cached_rrule(expr, timing._rrule_start(expr, after, ZoneInfo(tz))).after

    def following(wall):
        calls.append(wall)
        return inner(wall)
    return timing._first_instant_after(following, after, ZoneInfo(tz)), calls


@pytest.mark.parametrize("kind,expr", [("cron", "* * * * * *"), ("rrule", "RRULE:FREQ=SECONDLY"),
                                       ("cron", "*/5 * * * *"), ("rrule", "RRULE:FREQ=MINUTELY;BYSECOND=0")])
@pytest.mark.parametrize("tz,when", [
    ("America/New_York", datetime(2026, 11, 1, 6, 10, tzinfo=UTC)),   # inside the repeated hour
    ("America/New_York", datetime(2026, 11, 1, 7, 0, 1, tzinfo=UTC)),  # just after it
    ("America/New_York", datetime(2026, 3, 8, 7, 0, 1, tzinfo=UTC)),   # just after the gap
    ("Europe/Chisinau", datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC)),
    ("Europe/Chisinau", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
])
def test_around_an_offset_change_a_lookup_asks_for_two_candidates_at_most(kind, expr, tz, when):
    nxt, calls = following_counted(kind, expr, tz, when)
    assert nxt is not None and nxt > when and len(calls) <= 2
    # the same answer as walking every candidate from two hours back (offsets move by one)
    wall, walked = (when - timedelta(hours=2)).astimezone(ZoneInfo(tz)).replace(tzinfo=None), None
    from taskq.schedules.timing import _cron_following, _cached_rrule, wall_to_utc
    step = _cron_following(expr) if kind == "cron" else _cached_rrule(expr, wall).after
    while walked is None or walked <= when:
        wall = step(wall)
        walked = wall_to_utc(wall, ZoneInfo(tz))
    assert nxt == walked


def test_a_gap_time_still_to_come_runs_after_the_gap():
    # 02:30 does not exist in New York on 2026-03-08: asked at 03:10 EDT, the 02:30 run is at 03:30
    after = datetime(2026, 3, 8, 7, 10, tzinfo=UTC)
    assert next_run("cron", "30 2 * * *", "America/New_York", after) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_a_rule_too_costly_when_firing_finishes_its_schedule_and_says_so(caplog):
    never = {"id": "s1", "schedule_kind": "rrule", "timezone": "UTC", "misfire_policy": "run_once",
             "schedule_expr": "DTSTART:20260101T000000\nRRULE:FREQ=DAILY;INTERVAL=3;BYMONTH=2;BYMONTHDAY=30"}
    due = to_ms(datetime(2026, 5, 1, 10, tzinfo=UTC))
    with caplog.at_level("ERROR", logger="taskq.schedules"):
        assert plan(never, due, due + 1000) == ("", False)
    assert "schedule s1: cannot compute its next run" in caplog.text and "budget" in caplog.text


@pytest.mark.parametrize("expr", ["0 0 30 2 *", "0 0 31 2,4,6,9,11 *", "59 23 31 12 * 59 2075", "0 0 29 2 1",
                                  "0 0 29 2 5#5", "* * 29 2 * *", "0 0 L 2 *", "0 0 1 1 * 0 2020"])
@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Australia/Lord_Howe"])
def test_a_cron_that_rarely_or_never_fires_costs_little(expr, tz):
    import time
    started = time.process_time()
    for day in range(0, 366, 61):  # around the year, offset changes included
        next_run("cron", expr, tz, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day, hours=1))
    assert time.process_time() - started < 0.25  # about 2 ms a lookup at worst here
