"""The thread reading an rq worker's command channel (RQ's pub/sub) never
holds up the worker's exit: RQ's own reads for 60 s at a time, and when the
reply to its UNSUBSCRIBE reached that thread before the stop did, a
stopping worker (``--burst`` too) waited out the whole read."""

from __future__ import annotations

import time

import pytest

from workers.rq_process import COMMAND_POLL


def _wait(cond, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("cls", ["TaskqWorker", "TaskqSimpleWorker", "TaskqPoolWorker"])
def test_a_stopping_worker_does_not_wait_out_its_command_reads(cls, raw, prefix):
    import workers.rq_worker as classes

    worker = getattr(classes, cls)(["default"], connection=raw, prefix=prefix)
    worker.subscribe()
    try:
        assert _wait(lambda: worker.pubsub.subscribed)
        # the race, made certain: the thread handles the reply to UNSUBSCRIBE
        # (no channel left) and goes back to waiting before the stop comes
        worker.pubsub.unsubscribe()
        assert _wait(lambda: not worker.pubsub.subscribed)
        started = time.monotonic()
        worker.unsubscribe()  # RQ's: unsubscribe, stop the thread, close
        took = time.monotonic() - started
    finally:
        if worker.pubsub_thread.is_alive():
            worker.pubsub_thread.stop()
    assert not worker.pubsub_thread.is_alive()
    assert took < COMMAND_POLL + 3, took
