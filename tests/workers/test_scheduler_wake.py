"""The scheduler sleeps until the earliest due schedule, not a fixed tick:
a change making a schedule due sooner wakes it, and the run fires within
milliseconds of its due time, though its tick interval is far longer."""

from __future__ import annotations

import threading
import time

from taskq.keys import ScheduleKeys
from taskq.schedules import Schedules, timing, wake
from workers.upkeep import Upkeep

AGENT = "6a1f4a6c-7c43-4d4c-9a0b-3d1a7b2f9c11"


def body(kind: str, expr: str) -> dict:
    return {"title": "t", "description": "", "schedule_kind": kind, "schedule_expr": expr,
            "payload": {"callable": "builtins:len", "args": [[]]}, "created_by": AGENT}


def once_in(sched: Schedules, ms: int) -> tuple[str, int]:
    """A once schedule due ``ms`` from now (Redis time): (id, due ms)."""
    due = sched.now_ms() + ms
    sid = sched.create(body("once", timing.from_ms(due).isoformat()))["id"]
    return sid, due


def test_sleep_is_to_the_next_tick_or_the_earliest_due_schedule():
    assert wake.sleep_seconds(1.0, None) == 1.0
    assert wake.sleep_seconds(1.0, 0.02) == 0.02
    assert wake.sleep_seconds(0.3, 5.0) == 0.3
    assert wake.sleep_seconds(-0.1, 0.5) == 0.0


def test_a_change_to_a_sooner_due_time_pushes_the_wake_list_once(r, prefix):
    # once schedules, not crons: an hourly cron is due within a minute at hh:59
    sched, sk = Schedules(r, prefix=prefix), ScheduleKeys(prefix)
    _, due = once_in(sched, 3_600_000)
    assert r.lrange(sk.wake, 0, -1) == ["%d" % due]
    r.delete(sk.wake)
    once_in(sched, 7_200_000)  # later than the first: nobody to wake
    assert r.llen(sk.wake) == 0
    once_in(sched, 60_000)
    once_in(sched, 30_000)  # sooner still, but one element is enough to wake
    assert r.llen(sk.wake) == 1


def test_wait_ends_at_its_time_with_local_precision_or_at_a_wake(r, prefix):
    sk = ScheduleKeys(prefix)
    started = time.monotonic()
    assert wake.wait(r, sk, 0.35) is False
    took = time.monotonic() - started
    assert 0.35 <= took < 0.35 + 0.09  # not rounded up to Redis's 100 ms cron
    pusher = threading.Timer(0.2, lambda: r.rpush(sk.wake, "1"))
    pusher.start()
    started = time.monotonic()
    assert wake.wait(r, sk, 10.0) is True
    assert time.monotonic() - started < 2.0
    pusher.join(10)  # its reply read before the test's client closes


def test_a_schedule_made_due_soon_while_the_scheduler_sleeps_fires_at_its_due_time(r, q, prefix):
    sched, sk = Schedules(r, prefix=prefix), ScheduleKeys(prefix)
    sched.create(body("cron", "0 0 1 1 *"))  # far ahead: the scheduler sleeps on it
    stop = threading.Event()
    upkeep = Upkeep(r, prefix=prefix, interval=30.0, scheduler_id="wake-test")
    loop = threading.Thread(target=upkeep.run, kwargs={"should_stop": stop.is_set})
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while upkeep.until_due is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert upkeep.until_due is not None and upkeep.until_due > 3600  # the first tick: far
        time.sleep(0.2)  # asleep now, to the next tick 30 s away
        lags = []
        for _ in range(3):
            sid, due = once_in(sched, 300)
            deadline = time.monotonic() + 10
            while not r.lrange(sk.runs(sid), 0, 0) and time.monotonic() < deadline:
                time.sleep(0.01)
            run = r.lrange(sk.runs(sid), 0, 0)
            assert run, "the run did not fire within 10 s (the tick is 30 s away)"
            run_id, fired_at, outcome, _ = run[0].split("|")
            assert run_id == f"d{due}" and outcome == "created"
            lags.append(int(fired_at) - due)
        # a loaded machine may delay a wake; the tick it would wait for is 30 s away
        assert sorted(lags)[1] < 500, lags
        assert min(lags) >= 0
        # a run is listed when fired; its task follows from the outbox (on a
        # cluster, in another slot, a moment later)
        deadline = time.monotonic() + 10
        while q.count() < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert q.count() == 3
    finally:
        stop.set()
        loop.join(timeout=35)
    assert not loop.is_alive()
