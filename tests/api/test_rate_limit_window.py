"""The sliding window behind every rate limit, driven with an explicit clock
on a real Redis: a budget cannot be spent twice across a window boundary,
the previous window's share drains as time passes, refused requests are not
counted, and Retry-After is the wait after which one more request gets in."""

from __future__ import annotations

import pytest

from api.ratelimit import hit
from taskq.keys import ApiKeys

WINDOW = 60
START = 1_800_000_000 // WINDOW * WINDOW          # a window boundary


def _spend(r, keys, n, at, limit=10):
    return [hit(r, keys, "ip:10.0.0.1", limit, WINDOW, now=at) for _ in range(n)]


def test_a_burst_just_before_a_boundary_leaves_nothing_just_after_it(r, prefix):
    keys = ApiKeys(prefix)
    before = _spend(r, keys, 10, START - 0.01)
    assert [s.remaining for s in before] == list(range(9, -1, -1)) and not before[-1].exceeded
    after = hit(r, keys, "ip:10.0.0.1", 10, WINDOW, now=START + 0.01)
    assert after.exceeded and after.remaining < 0                     # a fixed window let 10 more in
    assert after.retry_after >= 6                                     # a tenth of the previous window must drain


def test_the_previous_windows_share_drains_with_time(r, prefix):
    keys = ApiKeys(prefix)
    _spend(r, keys, 10, START - 1)
    halfway = _spend(r, keys, 6, START + WINDOW / 2)                 # 10 * 0.5 still counts
    assert [s.exceeded for s in halfway] == [False] * 5 + [True]
    assert halfway[4].remaining == 0


def test_refused_requests_are_not_counted_and_retry_after_is_enough(r, prefix):
    keys = ApiKeys(prefix)
    first = _spend(r, keys, 3, START + 10, limit=3)
    assert not first[-1].exceeded
    refused = [hit(r, keys, "ip:10.0.0.1", 3, WINDOW, now=START + 11) for _ in range(50)]
    assert all(s.exceeded for s in refused)
    wait = refused[-1].retry_after
    assert wait == refused[0].retry_after                            # hammering does not extend it
    early = hit(r, keys, "ip:10.0.0.1", 3, WINDOW, now=START + 11 + wait - 1)
    assert early.exceeded
    later = hit(r, keys, "ip:10.0.0.1", 3, WINDOW, now=START + 11 + wait)
    assert not later.exceeded


@pytest.mark.parametrize("offset", [0.0, 0.001, 29.999, 59.999])
def test_exactly_the_limit_passes_wherever_a_quiet_callers_burst_falls(r, prefix, offset):
    keys = ApiKeys(prefix)
    states = _spend(r, keys, 11, START + offset)
    assert [s.exceeded for s in states] == [False] * 10 + [True]
    assert states[0].reset == START + 2 * WINDOW                      # every hit has aged out by then


def test_callers_are_counted_apart(r, prefix):
    keys = ApiKeys(prefix)
    _spend(r, keys, 10, START + 5)
    assert not hit(r, keys, "ip:10.0.0.2", 10, WINDOW, now=START + 5).exceeded
