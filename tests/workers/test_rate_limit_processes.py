"""A queue limit of 100 starts a second held by three `taskq worker`
processes draining 1,000 tasks: no one-second window holds more than 100
starts, and the drain takes the nine seconds the limit allows (the first
100 at once, then 100 a second), not more: a worker sleeps until a
window has room instead of polling, and starts its tasks as soon as it has.
scripts/rate_proof.py runs the same at 5,000 tasks."""

from __future__ import annotations

import os
import signal

from taskq.rates import busiest_window
from tests.workers.proc_helpers import start_worker


def test_three_workers_keep_a_queue_to_100_starts_a_second(r, q, prefix, redis_url, wait_for):
    q.set_rate_limit("100/s")
    tasks = q.enqueue_many([{"func": "operator:add", "args": [1, 2]} for _ in range(1000)])
    workers = [start_worker(redis_url, prefix, "default") for _ in range(3)]
    try:
        assert wait_for(lambda: q.counts()["completed"] == 1000, timeout=60)
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            if w.wait(30) is None:
                os.killpg(w.pid, signal.SIGKILL)
    pipe = r.pipeline(transaction=False)
    for t in tasks:
        pipe.hget(q.qkeys.task(t.id), "started")
    starts = [int(s) for s in pipe.execute()]
    assert busiest_window(starts, 1000) <= 100
    drain = (max(starts) - min(starts)) / 1000
    assert 8.5 <= drain <= 10.5, drain
