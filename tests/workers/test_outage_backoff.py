"""workers.outage.Outage: one line when Redis is lost, one when it is back,
whichever thread notices; the backoff doubles from 0.5 s to 10 s and only
the retrying thread advances it."""

from __future__ import annotations

import logging

import redis

from workers.outage import Outage, masked, url_problem

log = logging.getLogger("taskq.test.outage")


def test_backoff_doubles_to_a_cap_and_restarts_after_recovery(caplog):
    caplog.set_level(logging.WARNING, logger=log.name)
    o = Outage(log, "worker w", "redis://:pw@127.0.0.1:1/0")
    err = redis.ConnectionError("Error 111 connecting")
    o.ok()
    delays = [o.lost(err) for _ in range(7)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert o.lost(err, advance=False) == 10.0  # another thread noticed: no change
    o.ok()
    o.ok()
    assert not o.down
    assert o.lost(err) == 0.5
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert "lost Redis" in lines[0] and "pw" not in lines[0] and "***" in lines[0]
    assert "is back" in lines[1] and "lost Redis" in lines[2]


def test_never_reached_says_cannot_reach(caplog):
    caplog.set_level(logging.WARNING, logger=log.name)
    Outage(log, "scheduler s").lost(redis.ConnectionError("refused"))
    assert "cannot reach Redis" in caplog.records[0].getMessage()


def test_pause_ends_when_another_thread_found_redis_back():
    import threading
    import time

    o = Outage(log, "worker w")
    o.lost(redis.ConnectionError("x"))
    threading.Timer(0.2, o.ok).start()
    started = time.monotonic()
    o.pause(5.0)
    assert time.monotonic() - started < 2.0


def test_url_problems():
    for good in ("redis://127.0.0.1:6379/0", "rediss://u:p@h:6380/1", "unix:///tmp/r.sock"):
        assert url_problem(good) is None, good
    for bad in ("http://h:6379", "localhost:6379", "", "redis://h:port/0", "unix://"):
        assert url_problem(bad), bad
    assert masked("redis://:s3cret@h:port/0") == "redis://:***@h:port/0"
