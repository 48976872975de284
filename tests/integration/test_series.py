"""taskq.monitoring.series reads the counters exactly as the scripts write them: a
completion and a failure land in this minute's and this hour's buckets
(by Redis TIME), with the completed task's run time, summed over queues."""

from __future__ import annotations

from taskq.monitoring import series
from taskq.projects.store import redis_now_ms


def test_the_reader_sees_what_the_scripts_counted(q, make_queue, r):
    other = make_queue("other")
    for queue in (q, other):
        queue.enqueue_call(None)
        queue.claim(1, lease=30, worker="w")[0].complete({"ok": 1})
    q.enqueue_call(None, max_retries=0)
    q.claim(1, lease=30, worker="w")[0].fail("no", retryable=False)
    now = redis_now_ms(r) / 1000
    keys = [q.qkeys.series, other.qkeys.series]
    events = ("completed", "failed", series.RUNTIME)
    for kind in (series.MINUTE, series.HOUR):
        b = series.bucket_of(kind, now)
        counts = series.read(r, keys, kind, range(b - 1, b + 1), events)  # a bucket may just have turned
        assert counts.total("completed") == 2 and counts.total("failed") == 1
        runtime = sum(x.stats().get(series.RUNTIME, 0) for x in (q, other))  # the lifetime counter
        assert counts.total(series.RUNTIME) == runtime and (b + 1, "completed") not in counts
    assert series.read(r, [], series.MINUTE, [1], events).total("completed") == 0
    assert series.field(series.HOUR, 7, "failed") == "h:7:failed"
