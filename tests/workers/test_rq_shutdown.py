"""A taskq RQ worker stops its command channel (RQ's pub/sub thread for
stop-job, kill-horse and shutdown) promptly: with RQ's 60 s poll, redis-py
8's join of that thread held a burst worker, or a SIGTERMed one, for up to a
minute after its last task."""

from __future__ import annotations

import time

import pytest

from workers.rq_process import PUBSUB_POLL
from workers.rq_worker import TaskqPoolWorker, TaskqSimpleWorker, TaskqWorker

pytestmark = pytest.mark.single_redis  # RQ's pub/sub on one plain Redis


def _until(pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.mark.parametrize("cls", [TaskqWorker, TaskqSimpleWorker, TaskqPoolWorker])
def test_the_command_channel_stops_at_once_after_its_unsubscribe_was_read(cls, raw, prefix):
    w = cls(["default"], connection=raw, prefix=prefix)
    w.subscribe()
    try:
        _until(lambda: w.pubsub.subscribed)
        # The case that hung: the thread reads the UNSUBSCRIBE reply before
        # it is told to stop, then waits a whole poll for a new subscription.
        w.pubsub.unsubscribe()
        _until(lambda: not w.pubsub.subscribed)
        started = time.monotonic()
        w.unsubscribe()
        took = time.monotonic() - started
    finally:
        w.pubsub_thread.stop(timeout=0)
    assert not w.pubsub_thread.is_alive()
    assert took < PUBSUB_POLL + 10, f"stopping the command channel took {took:.1f} s"
