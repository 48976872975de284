"""Rate limits count in fixed windows, as Rack::Attack's throttle and
express-rate-limit do (the models the API documents name), driven here with
an explicit clock on a real Redis: the budget is spent within a window, comes
back whole when the next one starts, and the headers say when."""

from __future__ import annotations

import threading

import redis.client

from api import ratelimit
from api.ratelimit import RateState, hit, hit_many, too_many
from taskq.keys import ApiKeys

WINDOW = 60
START = 1_800_000_000 // WINDOW * WINDOW          # a window boundary


def _spend(r, keys, n, at, limit=10, who="ip:10.0.0.1"):
    return [hit(r, keys, who, limit, WINDOW, now=at) for _ in range(n)]


def test_the_budget_is_spent_within_a_window_and_back_whole_in_the_next(r, prefix):
    keys = ApiKeys(prefix)
    states = _spend(r, keys, 11, START + 30)
    assert [s.remaining for s in states] == list(range(9, -2, -1))
    assert [s.exceeded for s in states] == [False] * 10 + [True]
    assert {s.reset for s in states} == {START + WINDOW}              # X-RateLimit-Reset
    later = _spend(r, keys, 10, START + WINDOW)                       # the next window
    assert not any(s.exceeded for s in later) and later[-1].remaining == 0


def test_retry_after_is_the_time_left_in_the_window(monkeypatch):
    monkeypatch.setattr(ratelimit, "clock", lambda: START + 45.5)
    refused = too_many(RateState(10, -1, START + WINDOW))
    assert refused.status == 429 and refused.headers["Retry-After"] == "15"


def test_callers_are_counted_apart(r, prefix):
    keys = ApiKeys(prefix)
    _spend(r, keys, 10, START + 5)
    assert not hit(r, keys, "ip:10.0.0.2", 10, WINDOW, now=START + 5).exceeded
    assert hit(r, keys, "ip:10.0.0.1", 10, WINDOW, now=START + 5).exceeded


def test_a_window_key_is_born_with_its_ttl_and_keeps_it(r, prefix):
    keys = ApiKeys(prefix)
    _spend(r, keys, 1, START + 59)
    key = keys.rate("ip:10.0.0.1", START // WINDOW)
    first = r.ttl(key)
    assert 0 < first <= WINDOW + 1
    _spend(r, keys, 3, START + 59)
    assert 0 < r.ttl(key) <= first and r.get(key) == "4"


def test_concurrent_hits_are_counted_exactly(r, prefix):
    keys = ApiKeys(prefix)
    seen: list[int] = []
    lock = threading.Lock()

    def spend():
        got = [s.remaining for s in _spend(r, keys, 25, START + 10, limit=1000)]
        with lock:
            seen.extend(got)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(seen) == list(range(1000 - 200, 1000))


def test_every_budget_of_a_request_and_a_read_in_one_round_trip(r, prefix, monkeypatch):
    keys = ApiKeys(prefix)
    r.hset(keys.api_keys, "h", "record")
    sent: list = []
    real = redis.client.Pipeline.execute

    def execute(pipe, *args, **kwargs):
        sent.append([str(c[0][0]).upper() for c in pipe.command_stack])
        return real(pipe, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
    states, record = hit_many(r, keys, [("key:a", (5, 60)), ("login-ip:1", (2, 3600)), ("tasker-ip:1", (9, 1))],
                              now=START + 1, read=(keys.api_keys, "h"))
    assert sent == [["SET", "INCRBY"] * 3 + ["HGET"]] and record == "record"
    assert [(s.limit, s.remaining, s.reset) for s in states] == [
        (5, 4, START + 60), (2, 1, (START + 1) // 3600 * 3600 + 3600), (9, 8, START + 2)]
