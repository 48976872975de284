"""The forking rq worker's horse leaves what became of its task to its
parent (workers.rq_outcome): results of any size and text arrive intact, a
result that cannot be encoded and a raising body fail the task with their
error, and a report left by a horse that was then killed, or caught by a
cold stop, is still the one carried out. A cold stop is not cut short by
the parent's monitoring alarm."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from rq.utils import now as rq_now

from redis_clients import child_env

ROOT = Path(__file__).resolve().parents[2]
T = "tests.workers.tasks"


@pytest.fixture
def qname(raw):
    name = f"rqr-{uuid.uuid4().hex[:8]}"
    yield name
    leftovers = list(raw.scan_iter(match=f"rq:*{name}*", count=1000))
    if leftovers:
        raw.delete(*leftovers)
    for member in raw.smembers("rq:workers"):
        if name.encode() in member:
            raw.srem("rq:workers", member)


def run_burst(qname: str, prefix: str, redis_url: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "-w", "workers.rq_worker.TaskqWorker",
         "--burst", "--name", f"{qname}-w", qname],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=child_env(TASKQ_PREFIX=prefix, REDIS_URL=redis_url, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def test_results_and_failures_reach_the_engine_through_the_parent(make_queue, qname, prefix,
                                                                   redis_url):
    q = make_queue(qname)
    large = q.enqueue(f"{T}:big", 3_000_000)  # far beyond any pipe or map the horse could fill
    small = q.enqueue(f"{T}:big", 10)
    loop = q.enqueue(f"{T}:circular", max_retries=0)
    boom = q.enqueue(f"{T}:raise_value_error", "no é good", max_retries=0)
    log = run_burst(qname, prefix, redis_url)
    for t, n in ((large, 3_000_000), (small, 10)):
        got = q.get(t.id)
        assert (got.status, got.attempts) == ("completed", 1), (got.error, log)
        assert got.result == {"text": ("é\"\\\n\ud800" * (n // 5 + 1))[:n], "n": n}
    got = q.get(loop.id)
    assert got.status == "failed" and "Circular reference" in got.error, got.error
    got = q.get(boom.id)
    assert got.status == "failed" and got.error.startswith("ValueError: no"), got.error
    traceback = "\n".join(x["message"] for x in q.logs(boom.id))
    assert "Traceback" in traceback and "raise_value_error" in traceback


@pytest.fixture
def worker(raw, qname, prefix):
    from workers.rq_worker import TaskqWorker

    w = TaskqWorker([qname], connection=raw, prefix=prefix)
    w._outcome.open()
    yield w
    raw.delete(w.key)


def claimed(w):
    """A task claimed and its job written as the parent does before a fork."""
    queue = w._claim()
    job = w._job_for(w._lease, queue)
    w._outcome.reset()
    w._job = job
    return job, queue


def left_by_horse(w, job, what: str, *args) -> None:
    """What a horse leaves before it exits (here, in this process)."""
    w._defer_reports = True
    job.started_at = job.ended_at = rq_now()
    try:
        w._settle(job, what, *args)
    finally:
        w._defer_reports = False


def test_a_report_left_by_a_horse_killed_afterwards_is_carried_out(worker, make_queue, qname,
                                                                    raw):
    q = make_queue(qname)
    t = q.enqueue(f"{T}:record", "unused")
    job, queue = claimed(worker)
    left_by_horse(worker, job, "complete", {"from": "the horse"})
    assert q.get(t.id).status == "running"  # the horse reported nothing itself
    # RQ's monitor after a horse died of a signal (here: stop-job just too late)
    worker._stopped_job_id = job.id
    worker.handle_job_failure(job, queue, exc_string="Job stopped by user, work-horse terminated.")
    got = q.get(t.id)
    assert (got.status, got.result) == ("completed", {"from": "the horse"})
    assert raw.hget(worker.key, "successful_job_count") == b"1"
    assert not raw.exists(job.key)
    worker._end(job)  # nothing is reported twice
    assert worker._completed == 1 and q.get(t.id).attempts == 1


def test_a_cold_stop_carries_out_the_report_instead_of_giving_the_task_back(worker, make_queue,
                                                                            qname):
    q = make_queue(qname)
    t = q.enqueue(f"{T}:record", "unused")
    job, queue = claimed(worker)
    left_by_horse(worker, job, "fail", "ValueError: late", False, None)
    worker._shutdown_requested_date = rq_now() - timedelta(seconds=5)
    with pytest.raises(SystemExit):
        worker.request_force_stop(signal.SIGINT, None)
    got = q.get(t.id)
    assert (got.status, got.error) == ("failed", "ValueError: late")


def test_without_a_report_a_cold_stop_gives_the_task_back(worker, make_queue, qname):
    q = make_queue(qname)
    t = q.enqueue(f"{T}:record", "unused")
    claimed(worker)
    worker._shutdown_requested_date = rq_now() - timedelta(seconds=5)
    with pytest.raises(SystemExit):
        worker.request_force_stop(signal.SIGINT, None)
    got = q.get(t.id)
    assert (got.status, got.attempts) == ("queued", 0)


def test_a_result_that_cannot_be_read_back_fails_the_task_not_the_worker(worker, make_queue,
                                                                           qname):
    q = make_queue(qname)
    t = q.enqueue(f"{T}:record", "unused", max_retries=0)
    job, queue = claimed(worker)
    worker._outcome.leave(("complete", ("[" * 100_000,), None, None))
    worker._end(job)
    got = q.get(t.id)
    assert got.status == "failed" and "could not be read back" in got.error


def test_a_report_cut_short_is_not_taken(tmp_path):
    """The waiting flag goes up only after the whole report is written."""
    from workers.rq_outcome import SharedOutcome

    shared = SharedOutcome()
    shared.open()
    shared.reset()
    pid = os.fork()
    if pid == 0:  # a horse killed while writing: the bytes, not the flag
        os.pwrite(shared._fd, b"\x80\x05partial", 0)
        os._exit(0)
    os.waitpid(pid, 0)
    assert shared.take() is None
    pid = os.fork()
    if pid == 0:
        shared.leave(("complete", ("[1]",), None, None))
        os._exit(0)
    os.waitpid(pid, 0)
    assert shared.take() == ("complete", ("[1]",), None, None)
    assert shared.take() is None  # once


def test_the_monitor_alarm_does_not_cut_a_cold_stop_short(worker):
    """RQ's parent watches its horse under a one-second alarm that raises; a
    cold stop it interrupted (here: one slow to kill the horse) was dropped,
    leaving the worker running."""
    from rq.timeouts import HorseMonitorTimeoutException, UnixSignalDeathPenalty

    horse = os.fork()
    if horse == 0:
        os.setpgrp()  # as RQ's horse: the stop kills its process group
        time.sleep(60)
        os._exit(0)
    try:
        worker._horse_pid = horse
        worker._shutdown_requested_date = rq_now() - timedelta(seconds=5)
        kill = worker.kill_horse

        def kill_slowly(sig=signal.SIGKILL):
            time.sleep(1.5)  # the alarm goes off meanwhile
            kill(sig)

        worker.kill_horse = kill_slowly
        with pytest.raises(SystemExit):
            with UnixSignalDeathPenalty(1, HorseMonitorTimeoutException):
                worker.request_force_stop(signal.SIGINT, None)
        with pytest.raises(ChildProcessError):  # killed and reaped by the stop
            os.waitpid(horse, os.WNOHANG)
    finally:
        try:
            os.kill(horse, signal.SIGKILL)
            os.waitpid(horse, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
