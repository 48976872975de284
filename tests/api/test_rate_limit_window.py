"""Rate limits count in fixed windows, as Rack::Attack's throttle and
express-rate-limit do (the models the API documents name), driven here with
an explicit clock on a real Redis: the budget is spent within a window, comes
back whole when the next one starts, and the headers say when."""

from __future__ import annotations

from api import ratelimit
from api.ratelimit import RateState, hit, too_many
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
