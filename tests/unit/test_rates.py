"""Rate limit specs (taskq.rates.parse / text): what is accepted, what is
refused with a TaskqValueError, and how a limit is written back."""

from __future__ import annotations

import pytest

from taskq.errors import TaskqValueError
from taskq.options import build_spec
from taskq.rates import check_key, parse, text


@pytest.mark.parametrize("spec, want", [
    ("100/s", (100, 1000)), ("10/m", (10, 60_000)), ("5/10s", (5, 10_000)),
    ("1000/h", (1000, 3_600_000)), ("1/d", (1, 86_400_000)), (" 3 / 250ms ", (3, 250)),
    ((10, 60), (10, 60_000)), ([2, 0.5], (2, 500)),
])
def test_accepted(spec, want):
    assert parse(spec) == want


@pytest.mark.parametrize("spec", [
    "", "100", "100/", "/s", "0/s", "-1/s", "1.5/s", "10/x", "10 per second", "1/0s",
    "1/8d", "2000000/s", None, 100, (0, 1), (1, 0), (True, 1), (1, float("nan")),
    (1, float("inf")), (1, -5), (1, "1"), ("1", 1), (1, 2, 3), {"limit": 1},
    "9" * 400 + "/s",
])
def test_refused(spec):
    with pytest.raises(TaskqValueError):
        parse(spec)


@pytest.mark.parametrize("limit, period, written", [
    (100, 1000, "100/s"), (10, 60_000, "10/m"), (5, 10_000, "5/10s"), (3, 250, "3/250ms"),
    (1, 86_400_000, "1/d"), (7, 90_000, "7/90s"),
])
def test_written_back(limit, period, written):
    assert text(limit, period) == written
    assert parse(written) == (limit, period)


@pytest.mark.parametrize("key", ["", 5, "x" * 201, "\udfff", ["a"]])
def test_bad_rate_keys_are_refused(key):
    with pytest.raises(TaskqValueError):
        check_key(key)
    with pytest.raises(TaskqValueError):
        build_spec("q", "m:f", rate_key=key)


def test_no_rate_key_is_none():
    assert "rkey" not in build_spec("q", "m:f", rate_key=None).fields


def test_a_rate_key_is_stored_and_leaves_the_short_enqueue_path():
    spec = build_spec("q", "m:f", rate_key="acme")
    assert spec.fields["rkey"] == "acme" and not spec.plain
