"""The scheduler says in its log when firing falls behind due time: one
warning line per pass that fired a schedule late or took longer than a
tick, at most one a minute per process. Against a real Redis; lateness is
made by putting due times in the past, the rate limit's clock is replaced."""

from __future__ import annotations

import pytest

from taskq.schedules import fire_due, lag

from schedule_helpers import spec

BEHIND = "firing is behind"


def make_due(sched, sid, ms):
    sched.redis.hset(sched.sk.schedule(sid), "due", ms)
    sched.redis.zadd(sched.sk.due, {sid: ms})


@pytest.fixture
def clock(monkeypatch):
    """The rate limit's clock, moved by hand; no line logged yet."""
    now = [1000.0]
    monkeypatch.setattr(lag, "clock", lambda: now[0])
    monkeypatch.setattr(lag, "_last_line", [float("-inf")])
    return now


def behind_lines(caplog):
    return [r for r in caplog.records if BEHIND in r.getMessage()]


def test_a_late_fire_is_logged_once_a_minute_naming_the_schedule(sched, prefix, clock, caplog):
    sid = sched.create(spec(schedule_expr="* * * * *"))["id"]
    caplog.set_level("WARNING", logger="taskq.schedules")
    make_due(sched, sid, sched.now_ms() - 12_000)
    assert fire_due(sched.redis, prefix)["fired"] == 1
    (line,) = behind_lines(caplog)
    assert line.levelname == "WARNING"
    text = line.getMessage()
    assert "1 of 1 due schedules fired more than 5 s late" in text and sid in text
    assert "s late" in text and "computing next runs" in text

    make_due(sched, sid, sched.now_ms() - 12_000)  # late again within the minute: no second line
    clock[0] += lag.EVERY_S - 1
    assert fire_due(sched.redis, prefix)["fired"] == 1
    assert len(behind_lines(caplog)) == 1

    make_due(sched, sid, sched.now_ms() - 12_000)
    clock[0] += 1
    assert fire_due(sched.redis, prefix)["fired"] == 1
    assert len(behind_lines(caplog)) == 2


def test_fires_on_time_log_nothing(sched, prefix, clock, caplog):
    sids = [sched.create(spec(schedule_expr="* * * * *"))["id"] for _ in range(3)]
    caplog.set_level("WARNING", logger="taskq.schedules")
    for sid in sids:
        make_due(sched, sid, sched.now_ms() - 200)
    assert fire_due(sched.redis, prefix)["fired"] == 3
    assert fire_due(sched.redis, prefix)["due"] == 0  # nothing due: nothing to say either
    assert behind_lines(caplog) == []


def test_a_pass_longer_than_a_tick_is_logged_even_on_time(sched, prefix, clock, caplog, monkeypatch):
    sid = sched.create(spec(schedule_expr="* * * * *"))["id"]
    monkeypatch.setattr(lag, "SLOW_PASS_S", 0.0)  # every pass is "slow"
    caplog.set_level("WARNING", logger="taskq.schedules")
    make_due(sched, sid, sched.now_ms() - 200)
    fire_due(sched.redis, prefix)
    (line,) = behind_lines(caplog)
    assert "0 of 1 due schedules" in line.getMessage() and "the pass took" in line.getMessage()
