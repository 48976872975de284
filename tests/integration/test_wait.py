"""Waiting for a result (Queue.result, Task.wait): pushed by the script that
ends the task, never polled, and leaving nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from taskq import (Queue, Task, TaskCancelled, TaskFailed, TaskNotFound, TaskqError,
                   WaitTimeout)
from taskq import waiter_hub, waiting

from redis_clients import client_from_url, plain_client

ROOT = Path(__file__).resolve().parents[2]
T = "tests.workers.pool_tasks"


class Waiter(threading.Thread):
    """Runs Queue.result in a thread; .value / .error hold what it gave."""

    def __init__(self, q: Queue, task_id: str, timeout: float | None = 10):
        super().__init__(daemon=True)
        self.q, self.task_id, self.timeout = q, task_id, timeout
        self.value = self.error = self.ended_at = None

    def run(self):
        try:
            self.value = self.q.result(self.task_id, self.timeout)
        except BaseException as exc:
            self.error = exc
        self.ended_at = time.monotonic()


def armed(q: Queue) -> int:
    """Waiters of q's client registered with their task and waiting for its push."""
    return waiter_hub.hub_for(q.redis).armed


def start_waiters(q, task_id, n=1, timeout=10):
    """n waiters on q, each registered and waiting for a push when this returns."""
    before = armed(q)
    ws = [Waiter(q, task_id, timeout) for _ in range(n)]
    for w in ws:
        w.start()
    deadline = time.monotonic() + 10
    while armed(q) < before + n:
        assert time.monotonic() < deadline, "a waiter did not get to wait"
        time.sleep(0.005)
    return ws


@pytest.fixture
def no_polling(monkeypatch):
    """A wait that relied on looking again rather than being pushed would now
    take a minute: the tests using this join their waiters within 2 s, so
    only a pushed wake passes them."""
    monkeypatch.setattr(waiting, "RECHECK", 60.0)


@pytest.fixture
def wq(redis_url, prefix):
    """The waiters' view of the `q` fixture's queue, through a client of their own."""
    client = client_from_url(redis_url)
    yield Queue("default", redis=client, prefix=prefix)
    client.close()


def test_result_is_returned_when_the_task_completes(q, wq, no_polling):
    t = q.enqueue("f")
    [w] = start_waiters(wq, t.id)
    lease = q.claim()[0]
    done_at = time.monotonic()
    lease.complete({"big": 12345678901234567, "empty": [], "text": "a\nb"})
    w.join(2)
    assert w.error is None and w.value == {"big": 12345678901234567, "empty": [], "text": "a\nb"}
    assert w.ended_at - done_at < 1.0


def test_task_wait_delegates_to_its_queue(q):
    t = q.enqueue("f")
    q.claim()[0].complete(7)
    assert t.wait(timeout=1) == 7
    assert q.get(t.id).wait(0) == 7
    assert q.list("completed")[0].wait(0) == 7


def test_a_bare_task_snapshot_says_to_use_queue_result(q):
    t = q.enqueue("f")
    with pytest.raises(TaskqError, match="Queue.result"):
        Task(t.id, {}).wait(0)


def test_failed_task_raises_task_failed_with_its_error_and_task(q, wq, no_polling):
    t = q.enqueue("f", max_retries=0)
    [w] = start_waiters(wq, t.id)
    q.claim()[0].fail("ValueError: bad input")
    w.join(2)
    assert isinstance(w.error, TaskFailed)
    assert w.error.error == "ValueError: bad input" and "bad input" in str(w.error)
    assert w.error.task.id == t.id and w.error.task.status == "failed"
    assert w.error.task.attempts == 1  # the task as stored, not just the pushed outcome


def test_cancelled_task_raises_task_cancelled(q, wq, no_polling):
    t = q.enqueue("f")
    [w] = start_waiters(wq, t.id)
    q.cancel(t.id, "not needed")
    w.join(2)
    assert isinstance(w.error, TaskCancelled) and w.error.error == "not needed"
    assert not isinstance(w.error, TaskFailed)


def test_running_task_cancel_acknowledged_raises_task_cancelled(q, wq, no_polling):
    t = q.enqueue("f")
    lease = q.claim()[0]
    [w] = start_waiters(wq, t.id)
    assert q.cancel(t.id) == "cancel_requested"
    time.sleep(0.05)
    assert w.is_alive()  # requested is not ended
    lease.cancelled()
    w.join(2)
    assert isinstance(w.error, TaskCancelled)


def test_deleting_an_unfinished_task_wakes_its_waiter_as_cancelled(q, wq, no_polling):
    t = q.enqueue("f")
    [w] = start_waiters(wq, t.id)
    q.delete(t.id)
    w.join(2)
    assert isinstance(w.error, TaskCancelled) and w.error.error == "deleted"


def test_dependency_failure_cascade_wakes_the_dependents_waiter(q, wq, no_polling):
    a = q.enqueue("f", max_retries=0)
    b = q.enqueue("f", depends_on=[a.id])
    [w] = start_waiters(wq, b.id)
    q.claim()[0].fail("boom")
    w.join(2)
    assert isinstance(w.error, TaskFailed) and "dependency" in w.error.error


def test_expired_lease_without_retries_wakes_the_waiter(q, wq, no_polling):
    t = q.enqueue("f", max_retries=0)
    q.claim(1, lease=0.05)
    [w] = start_waiters(wq, t.id)
    time.sleep(0.1)
    q.reap()
    w.join(2)
    assert isinstance(w.error, TaskFailed) and "lease expired" in w.error.error


def test_timeout_raises_wait_timeout_within_a_small_margin(q):
    t = q.enqueue("f")
    start = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        q.result(t.id, timeout=0.3)
    took = time.monotonic() - start
    assert 0.3 <= took < 0.6
    assert isinstance(info.value, TimeoutError) and info.value.task_id == t.id
    with pytest.raises(WaitTimeout):
        t.wait(0)  # 0: look once


def test_an_ended_task_answers_at_once_and_unknown_ids_raise(q):
    t = q.enqueue("f")
    q.claim()[0].complete("done")
    start = time.monotonic()
    assert q.result(t.id) == "done"
    assert time.monotonic() - start < 0.1
    with pytest.raises(TaskNotFound):
        q.result("default:nosuchtask", 1)
    with pytest.raises(TaskNotFound):
        q.result("otherqueue:abc", 1)


def test_a_retrying_task_is_waited_for_until_its_final_result(q, wq, no_polling):
    t = q.enqueue("f", max_retries=2, backoff="fixed", backoff_base=0)
    [w] = start_waiters(wq, t.id)
    assert q.claim()[0].fail("transient") == "retrying"
    assert q.claim()[0].fail("transient") == "retrying"
    time.sleep(0.05)
    assert w.is_alive()
    q.claim()[0].complete("third time")
    w.join(2)
    assert w.error is None and w.value == "third time"


def test_several_waiters_all_wake(q, wq, no_polling):
    t = q.enqueue("f")
    ws = start_waiters(wq, t.id, n=5)
    q.claim()[0].complete([1, 2])
    deadline = time.monotonic() + 2
    for w in ws:
        w.join(max(0.0, deadline - time.monotonic()))
    assert [w.value for w in ws] == [[1, 2]] * 5


def test_a_waiter_after_a_manual_retry_waits_for_the_new_run(q, wq, no_polling):
    t = q.enqueue("f", max_retries=0)
    [w] = start_waiters(wq, t.id)
    q.claim()[0].fail("first")
    w.join(2)
    assert isinstance(w.error, TaskFailed)
    q.retry(t.id)  # the first run's outcome is still listed: it must not answer
    [w2] = start_waiters(wq, t.id)
    time.sleep(0.05)
    assert w2.is_alive()
    q.claim()[0].complete("second")
    w2.join(2)
    assert w2.value == "second"


def test_an_ended_or_unknown_task_answers_at_once_after_other_waits(q, wq, no_polling):
    for i in range(3):
        t = q.enqueue("f")
        [w] = start_waiters(wq, t.id)
        q.claim()[0].complete(i)
        w.join(2)
        assert w.value == i
    start = time.monotonic()
    assert wq.result(t.id, 5) == 2  # ended: the hub's first look answers
    with pytest.raises(TaskNotFound):
        wq.result("default:gone", 5)
    assert time.monotonic() - start < 0.5


def test_no_waiter_no_flag_and_no_key(q, r):
    t = q.enqueue("f")
    q.claim()[0].complete(1)
    f = q.enqueue("f", max_retries=0)
    q.claim()[0].fail("x")
    c = q.enqueue("f")
    q.cancel(c.id)
    for task_id in (t.id, f.id, c.id):
        assert r.exists(q.qkeys.notify_prefix + task_id) == 0
        assert r.hget(q.qkeys.task(task_id), "waiters") is None


def test_a_wake_clears_the_flag_and_leaves_no_key(q, wq, r, no_polling):
    t = q.enqueue("f")
    [w] = start_waiters(wq, t.id)
    assert r.hget(q.qkeys.task(t.id), "waiters") == "1"
    q.claim()[0].complete(1)
    w.join(2)
    assert w.value == 1
    assert r.hget(q.qkeys.task(t.id), "waiters") is None
    assert r.exists(q.qkeys.notify_prefix + t.id) == 0


def test_a_waiter_that_timed_out_leaves_no_key(q, wq, r):
    t = q.enqueue("f")
    with pytest.raises(WaitTimeout):
        wq.result(t.id, timeout=0.05)
    assert r.exists(q.qkeys.notify_prefix + t.id) == 0
    q.claim()[0].complete(1)  # published to a hub that drops it
    assert r.exists(q.qkeys.notify_prefix + t.id) == 0
    assert r.hget(q.qkeys.task(t.id), "waiters") is None
    assert wq.result(t.id, 1) == 1


def test_a_short_socket_timeout_does_not_cut_a_long_wait(q, redis_url, prefix, no_polling):
    client = client_from_url(redis_url, socket_timeout=0.2)
    wq = Queue("default", redis=client, prefix=prefix)
    t = q.enqueue("f")
    with pytest.raises(WaitTimeout):
        wq.result(t.id, timeout=0.5)
    [w] = start_waiters(wq, t.id)
    time.sleep(0.5)  # longer than the socket timeout
    q.claim()[0].complete("late")
    w.join(2)
    assert w.value == "late"
    client.close()


def test_a_waiter_on_a_client_without_decode_responses(q, redis_url, prefix, no_polling):
    # The queue decodes through its own twin of the plain client
    # (taskq.connection): the hub is the twin's.
    plain = plain_client(redis_url)
    raw_q = Queue("default", redis=plain, prefix=prefix)
    t = q.enqueue("f")
    [w] = start_waiters(raw_q, t.id)
    q.claim()[0].complete({"a": 1})
    w.join(2)
    assert w.value == {"a": 1}
    d = q.enqueue("f")
    [w] = start_waiters(raw_q, d.id)
    q.delete(d.id)
    w.join(2)
    assert isinstance(w.error, TaskCancelled)
    plain.close()


def test_a_real_worker_process_runs_the_task_and_the_waiter_gets_it(redis_url, r, prefix, q):
    env = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "taskq.cli", "worker", "--concurrency", "2",
                             "default"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        ok = q.enqueue(f"{T}:incr", f"{prefix}:n")
        bad = q.enqueue(f"{T}:fail", "worker said no", max_retries=0)
        assert ok.wait(timeout=20) == 1
        with pytest.raises(TaskFailed, match="worker said no"):
            bad.wait(timeout=20)
        for i in range(20):  # back to back, on the now idle worker
            assert q.enqueue(f"{T}:incr", f"{prefix}:n").wait(timeout=5) == i + 2
    finally:
        proc.terminate()
        proc.wait(15)
