"""The fast pool worker: in-process runs, and real processes killed, stopped
and timed out."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from taskq.worker_registry import WorkerRegistry
from workers import pool as pool_module
from tests.workers.proc_helpers import start_worker
from workers.pool import PoolWorker

T = "tests.workers.pool_tasks"


@pytest.fixture(autouse=True)
def task_redis(redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)




def test_burst_run_completes_everything_once(r, q, prefix):
    key = f"{prefix}:count"
    q.enqueue_many([{"func": f"{T}:incr", "args": [key]} for _ in range(300)])
    w = PoolWorker(r, ["default"], concurrency=4, prefix=prefix)
    w.run(burst=True)
    assert int(r.get(key)) == 300
    assert q.counts()["completed"] == 300 and w.completed == 300


def test_failures_retry_then_fail_and_missing_functions_fail_at_once(r, q, prefix):
    flaky = q.enqueue(f"{T}:fail", "boom", max_retries=1, backoff="fixed", backoff_base=0)
    missing = q.enqueue("no.such.module:fn", max_retries=5)
    PoolWorker(r, ["default"], concurrency=2, prefix=prefix).run(burst=True)
    got = q.get(flaky.id)
    assert got.status == "failed" and got.attempts == 2 and "boom" in got.error
    got = q.get(missing.id)
    assert got.status == "failed" and got.attempts == 1 and "cannot import" in got.error


def test_task_body_checkpoints_and_logs(r, q, prefix):
    t = q.enqueue(f"{T}:resume_from_checkpoint", 3, f"{prefix}:nocrash")
    PoolWorker(r, ["default"], concurrency=1, prefix=prefix).run(burst=True)
    got = q.get(t.id)
    assert got.result == [0, 1, 2] and got.checkpoint == {"done": [0, 1, 2]}
    assert [x["message"] for x in q.logs(t.id)] == ["step 0 done", "step 1 done", "step 2 done"]


def test_idle_worker_is_woken_by_enqueue_not_by_polling(r, q, prefix, monkeypatch, wait_for):
    monkeypatch.setattr(pool_module, "WAKE_TIMEOUT", 30.0)  # a poll would take 30 s
    w = PoolWorker(r, ["other", "default"], concurrency=1, prefix=prefix)
    th = threading.Thread(target=w.run, daemon=True)
    th.start()
    time.sleep(0.3)  # let it block on the wake keys
    t = q.enqueue(f"{T}:now")
    assert wait_for(lambda: q.get(t.id).status == "completed", timeout=5)
    w.request_stop()
    r.lpush(q.qkeys.wake, "1")  # unblock it promptly
    th.join(5)
    assert not th.is_alive()


def test_a_task_past_its_timeout_is_failed_and_its_late_result_dropped(r, q, prefix, wait_for):
    t = q.enqueue(f"{T}:sleep_then_incr", 1.5, f"{prefix}:s", f"{prefix}:d",
                  timeout=0.3, max_retries=0)
    w = PoolWorker(r, ["default"], concurrency=1, lease=0.3, prefix=prefix)
    w.run(burst=True)
    got = q.get(t.id)
    assert got.status == "failed" and "timeout" in got.error
    assert wait_for(lambda: r.get(f"{prefix}:d") == "1", timeout=5)
    time.sleep(0.2)
    assert q.get(t.id).status == "failed"  # the body finished late; nothing changed


def test_registry_shows_the_worker_and_its_task(r, q, prefix, wait_for):
    t = q.enqueue(f"{T}:sleep_then_incr", 1.0, f"{prefix}:s", f"{prefix}:d")
    w = PoolWorker(r, ["default"], concurrency=1, lease=0.3, prefix=prefix)
    th = threading.Thread(target=w.run, kwargs={"burst": True}, daemon=True)
    th.start()
    reg = WorkerRegistry(r, w.keys)
    assert wait_for(lambda: (reg.get(w.worker_id) or 0) and reg.get(w.worker_id).current_task_ids == [t.id])
    info = reg.get(w.worker_id)
    assert info.status == "active" and info.queues == ["default"] and info.pid == os.getpid()
    assert set(info.resources) == {"cpu_usage", "memory_usage", "disk_usage"}
    th.join(10)
    info = reg.get(w.worker_id)
    assert info.status == "offline" and info.tasks_completed == 1
    events = [e["event"] for _, e in r.xrange(w.keys.events)]
    assert events == ["worker.registered", "worker.offline"]


def test_sigkilled_worker_task_runs_again_elsewhere_exactly_once(r, q, prefix, redis_url, wait_for):
    t = q.enqueue(f"{T}:sleep_then_incr", 2.0, f"{prefix}:started", f"{prefix}:done")
    a = start_worker(redis_url, prefix, "--lease", "1", "default")
    b = a
    try:
        assert wait_for(lambda: r.get(f"{prefix}:started") == "1")
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(5)
        # The lease runs out within a second; the other worker's claims reap it.
        b = start_worker(redis_url, prefix, "--lease", "1", "default")
        assert wait_for(lambda: q.get(t.id).status == "completed", timeout=20)
        b.send_signal(signal.SIGTERM)
        assert b.wait(10) == 0
    finally:
        for p in (a, b):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    got = q.get(t.id)
    assert got.status == "completed" and got.attempts == 2
    assert r.get(f"{prefix}:started") == "2" and r.get(f"{prefix}:done") == "1"


def test_sigterm_finishes_the_task_in_hand_then_exits(r, q, prefix, redis_url, wait_for):
    t = q.enqueue(f"{T}:sleep_then_incr", 1.0, f"{prefix}:started", f"{prefix}:done")
    w = start_worker(redis_url, prefix, "default")
    assert wait_for(lambda: r.get(f"{prefix}:started") == "1")
    w.send_signal(signal.SIGTERM)
    assert w.wait(15) == 0
    assert q.get(t.id).status == "completed" and r.get(f"{prefix}:done") == "1"


def test_second_signal_gives_the_lease_back_at_once(r, q, prefix, redis_url, wait_for):
    t = q.enqueue(f"{T}:sleep_then_incr", 30.0, f"{prefix}:started", f"{prefix}:done")
    w = start_worker(redis_url, prefix, "default")
    try:
        assert wait_for(lambda: r.get(f"{prefix}:started") == "1")
        w.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        w.send_signal(signal.SIGTERM)
        assert w.wait(10) == 0
    finally:
        if w.poll() is None:
            os.killpg(w.pid, signal.SIGKILL)
    got = q.get(t.id)
    assert got.status == "queued" and got.attempts == 0


def test_crash_restart_resumes_from_the_checkpoint(r, q, prefix, redis_url, wait_for):
    crash = f"{prefix}:crash"
    r.set(crash, "1")
    t = q.enqueue(f"{T}:resume_from_checkpoint", 4, crash)
    a = start_worker(redis_url, prefix, "--lease", "1", "default")
    try:
        assert wait_for(lambda: (q.get(t.id).checkpoint or {}).get("done") == [0, 1]
                        and r.get(crash) is None)
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(5)
    finally:
        if a.poll() is None:
            os.killpg(a.pid, signal.SIGKILL)
    b = start_worker(redis_url, prefix, "--lease", "1", "default")
    try:
        assert wait_for(lambda: q.get(t.id).status == "completed", timeout=20)
    finally:
        b.send_signal(signal.SIGTERM)
        b.wait(10)
    got = q.get(t.id)
    assert got.status == "completed" and got.result == [0, 1, 2, 3] and got.attempts == 2
    messages = [x["message"] for x in q.logs(t.id)]
    assert messages.count("step 0 done") == 1 and "step 3 done" in messages


def test_queue_argument_order_is_claim_order(r, make_queue, prefix):
    high, low = make_queue("high"), make_queue("low")
    low_t = low.enqueue(f"{T}:now")
    high_t = high.enqueue(f"{T}:now")
    PoolWorker(r, ["high", "low"], concurrency=1, capacity=1, prefix=prefix).run(burst=True)
    assert high.get(high_t.id).finished_at <= low.get(low_t.id).started_at


def test_worker_needs_a_queue(r):
    with pytest.raises(ValueError):
        PoolWorker(r, [])


def test_a_task_with_a_lease_shorter_than_the_workers_is_renewed_in_time(r, q, prefix):
    """The keep-alive's wait is cut short when a task with its own short
    lease arrives, so its first renewal comes within a third of that lease."""
    t = q.enqueue(f"{T}:sleep_then_incr", 1.5, f"{prefix}:started", f"{prefix}:done", lease=0.6)
    PoolWorker(r, ["default"], prefix=prefix).run(burst=True)
    got = q.get(t.id)
    assert (got.status, got.attempts) == ("completed", 1)
    assert r.get(f"{prefix}:started") == "1"
