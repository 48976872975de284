"""A task's timeline read back from its queue's shared, capped event stream."""

from __future__ import annotations

from taskq.monitoring.task_events import timeline


def test_a_tasks_events_in_order_and_none_of_its_neighbours(r, keys, q):
    other = q.enqueue("app:job")
    t = q.enqueue("app:job", max_retries=1)
    [lease] = q.claim(1)
    if lease.task.id != t.id:
        lease.complete(None)
        [lease] = q.claim(1)
    lease.fail("boom")
    assert q.get(t.id).status == "delayed"
    events = timeline(r, keys, q.get(t.id))
    assert [e["event"] for e in events.events] == ["created", "started", "retrying"]
    assert events.events[2]["fields"]["attempt"] == "1"
    assert not events.truncated and not events.trimmed
    assert [e["event"] for e in timeline(r, keys, q.get(other.id)).events] == ["created", "started", "completed"]


def test_the_read_is_bounded_and_says_so(r, keys, q):
    t = q.enqueue("app:job")
    for _ in range(30):
        q.enqueue("app:noise")
    q.cancel(t.id)
    assert timeline(r, keys, q.get(t.id), cap=10).truncated
    full = timeline(r, keys, q.get(t.id))
    assert [e["event"] for e in full.events] == ["created", "cancelled"] and not full.truncated
    assert not timeline(r, keys, q.get(t.id), cap=32).truncated  # exactly the entries there are


def test_a_trimmed_stream_is_reported(r, keys, q):
    t = q.enqueue("app:job")
    q.enqueue("app:later")
    r.xtrim(keys.queue(q.name).events, maxlen=1, approximate=False)
    events = timeline(r, keys, q.get(t.id))
    assert events.trimmed and events.events == []
