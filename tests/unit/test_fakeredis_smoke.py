"""A fast run of the main lifecycle on fakeredis (Lua through lupa).

Real Redis is the proof (tests/integration); this keeps the scripts usable
where a developer has no server, and catches Lua errors in milliseconds.
"""

from __future__ import annotations

import pytest

fakeredis = pytest.importorskip("fakeredis")
pytest.importorskip("lupa")

from taskq import LeaseLost, Queue  # noqa: E402


@pytest.fixture
def fq():
    server = fakeredis.FakeServer()
    return Queue("unit", redis=fakeredis.FakeRedis(server=server, decode_responses=True),
                 prefix="fake")


def test_lifecycle_on_fakeredis(fq):
    a = fq.enqueue("f", priority=2, tags=["x"])
    b = fq.enqueue("f", depends_on=[a])
    [lease] = fq.claim(5)
    assert lease.id == a.id
    lease.heartbeat()
    lease.checkpoint({"step": 1})
    lease.log("working")
    assert lease.complete({"ok": True})
    assert not lease.complete()
    [lease_b] = fq.claim(5)
    assert lease_b.id == b.id
    assert lease_b.fail("boom", retryable=False) == "failed"
    with pytest.raises(LeaseLost):
        lease_b.heartbeat()
    assert fq.retry(b.id) == "queued"
    assert fq.counts()["queued"] == 1 and fq.counts()["completed"] == 1
    fq.pause()
    assert fq.claim(1) == []
    fq.resume()
    assert fq.cancel(b.id) == "cancelled"
    fq.delete(b.id)
    assert fq.get(b.id) is None
