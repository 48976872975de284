"""The one wire format of times (taskq.isotime): ISO 8601 UTC, four-digit
year, milliseconds, Z, for every year a datetime holds; exact conversions
to and from epoch milliseconds; and no other formatter in the code."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from taskq.isotime import MAX_MS, MIN_MS, from_ms, iso, iso_ms, to_ms

ROOT = Path(__file__).resolve().parents[2]
WIRE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
UTC = timezone.utc


@pytest.mark.parametrize("year", [1, 9, 10, 93, 99, 100, 999, 1000, 1969, 1970, 2024, 9999])
def test_every_year_has_four_digits_and_round_trips(year):
    dt = datetime(year, 3, 1, 23, 43, 30, 123456, tzinfo=UTC)
    text = iso(dt)
    assert WIRE.fullmatch(text) and text == f"{year:04d}-03-01T23:43:30.123Z"
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == dt.replace(microsecond=123000)
    assert from_ms(to_ms(dt)) == dt.replace(microsecond=123000)
    assert iso_ms(to_ms(dt)) == text


def test_the_ends_of_the_calendar_are_exact():
    first, last = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert (to_ms(first), to_ms(last)) == (MIN_MS, MAX_MS) == (-62135596800000, 253402300799999)
    assert iso(first) == "0001-01-01T00:00:00.000Z" and iso(last) == "9999-12-31T23:59:59.999Z"
    assert iso_ms(MIN_MS) == iso(first) and iso_ms(str(MAX_MS)) == iso(last)
    # float arithmetic (timestamp() * 1000) rounds the last instant into the year 10000
    assert int(last.timestamp() * 1000) != MAX_MS and to_ms(last) == MAX_MS


def test_offsets_naive_times_and_epoch_seconds():
    plus_one = timezone(timedelta(hours=1))
    assert iso(datetime(93, 3, 2, 0, 43, 30, tzinfo=plus_one)) == "0093-03-01T23:43:30.000Z"
    assert iso(datetime(1, 1, 1, 5, 0, tzinfo=timezone(timedelta(hours=5)))) == "0001-01-01T00:00:00.000Z"
    assert iso(datetime(2024, 1, 15, 10, 30)) == "2024-01-15T10:30:00.000Z"  # naive = UTC
    assert iso(0) == "1970-01-01T00:00:00.000Z" and iso(1.25) == "1970-01-01T00:00:01.250Z"
    assert iso(-1) == "1969-12-31T23:59:59.000Z"
    assert iso(None) is None and iso_ms(None) is None and iso_ms("") is None and iso_ms(0) is None


def test_a_stored_time_past_either_end_reads_as_that_end_not_an_error():
    """Only a writer bypassing validation stores one; a read never fails on it."""
    assert iso_ms(MIN_MS - 10**12) == "0001-01-01T00:00:00.000Z"
    assert iso_ms(10**20) == "9999-12-31T23:59:59.999Z"


def test_the_text_sorts_as_the_time_does():
    times = [datetime(y, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
             for y in (5, 93, 999, 1000, 2024) for ms in (0, 1, 999, 1000)]
    assert sorted(iso(t) for t in times) == [iso(t) for t in sorted(times)]


FORMATTERS = re.compile(r"\.strftime\(|\.isoformat\(|timespec=")


def test_no_other_module_formats_a_time():
    """Invariant 12: every time on the wire is made by taskq.isotime (glibc's
    %Y does not pad years before 1000; isoformat writes +00:00)."""
    found = [f"{p.relative_to(ROOT)}:{n}" for d in ("api", "taskq", "workers")
             for p in sorted((ROOT / d).rglob("*.py")) if p.name != "isotime.py"
             for n, line in enumerate(p.read_text().splitlines(), 1) if FORMATTERS.search(line)]
    assert found == []
