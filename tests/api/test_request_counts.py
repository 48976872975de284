"""Request counts behind /metrics/json (api.metrics.RequestCounts): counting
a request sends nothing to Redis; each process adds its counts to the
shared hash within FLUSH_SECONDS, so every process answers the same totals
that soon, and the process asked adds its own first (exact for itself)."""

from __future__ import annotations

import time

import redis
import redis.client
from apihelpers import EXAMPLE_TASK
from test_taskdriver_support import ok

from api.metrics import FLUSH_SECONDS, RequestCounts
from taskq.local.embedded import free_port
from taskq.keys import ApiKeys

BODY = {k: v for k, v in EXAMPLE_TASK.items() if k != "scheduled_at"}


def test_counting_a_request_sends_nothing_to_redis(make_app, r, admin, monkeypatch):
    app = make_app(TASKQ_RATE_LIMIT="off", TASKQ_RATE_LIMIT_IP="off")
    client = app.test_client()
    ok(client.post("/api/tasks", json=BODY, headers=admin), 201)   # the queue's first enqueue
    sent: list = []
    real_execute = redis.client.Pipeline.execute

    def execute(pipe, *args, **kwargs):
        if pipe.connection_pool is r.connection_pool:
            sent.append([str(c[0][0]).upper() for c in pipe.command_stack])
        return real_execute(pipe, *args, **kwargs)

    app.extensions["taskq"].last_beat = time.time() + 3600
    monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
    ok(client.post("/api/tasks", json=BODY, headers=admin), 201)
    monkeypatch.undo()
    assert sent == [["EVALSHA"]]


def test_every_process_answers_the_same_totals_within_the_flush_interval(make_app, admin):
    serving, asked = make_app().test_client(), make_app().test_client()
    before = ok(asked.get("/metrics/json"))
    for _ in range(3):
        ok(serving.post("/api/tasks", json=BODY, headers=admin), 201)
    for _ in range(2):
        assert serving.get("/api/tasks/dts:nope", headers=admin).status_code == 404
    started, seen = time.monotonic(), before
    while time.monotonic() - started < FLUSH_SECONDS + 10:   # a hang is the failure
        seen = ok(asked.get("/metrics/json"))
        if seen["requests_total"] >= before["requests_total"] + 5:
            break
        time.sleep(0.05)
    assert seen["requests_total"] - before["requests_total"] == 5    # /metrics/json itself is not counted
    assert (seen["requests_success"] - before["requests_success"], seen["requests_error"] - before["requests_error"]) == (3, 2)


def test_counts_redis_refused_are_kept_for_the_next_flush(r, prefix):
    key = ApiKeys(prefix).requests
    gone = redis.Redis(port=free_port(), socket_connect_timeout=1)   # nothing listens there
    counts = RequestCounts(gone, key)
    counts.add(True, 2.5)
    counts.add(False, 1.5)
    counts.flush()                                       # refused: nothing lost, nothing raised
    assert r.hgetall(key) == {}
    counts.redis = r
    counts.add(True, 1.0)
    counts.flush()
    stored = r.hgetall(key)
    assert {k: stored[k] for k in ("total", "success", "error")} == {"total": "3", "success": "2", "error": "1"}
    assert float(stored["time_ms"]) == 5.0
    counts.flush()                                       # nothing pending: nothing sent
    assert r.hget(key, "total") == "3"


def test_a_timer_adds_the_counts_when_no_one_asks(r, prefix):
    key = ApiKeys(prefix).requests
    counts = RequestCounts(r, key)
    counts.add(True, 1.0)
    deadline = time.monotonic() + FLUSH_SECONDS + 10
    while r.hget(key, "total") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.hget(key, "total") == "1"


def test_close_adds_what_is_held_and_stops_the_timer(r, prefix):
    key = ApiKeys(prefix).requests
    counts = RequestCounts(r, key)
    counts.add(True, 1.0)
    timer = counts._timer
    counts.close()
    assert r.hget(key, "total") == "1" and not timer.is_alive()
