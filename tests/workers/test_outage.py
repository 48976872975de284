"""`taskq worker` and `taskq scheduler` ride out a Redis outage: a private
redis-server (persistent, so the tasks survive) is stopped for a few seconds
and started again on the same port and data folder, while both processes
run. They must stay alive, say "lost" once and "back" once, print no
traceback, and every task enqueued before and after must run exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from taskq import Queue
from taskq.local.embedded import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
T = "tests.workers.outage_tasks"
OUTAGE_SECONDS = 3.0
RQ_OUTAGE_SECONDS = 6.0
"""Longer than a few report retries: the task that finishes during the outage
must wait for Redis, and RQ's bookkeeping after it must not end the worker."""


def _spawn(url: str, log: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ, REDIS_URL=url, **(env or {}),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("TASKQ_PREFIX", None)
    return subprocess.Popen([sys.executable, "-m", "taskq.cli", *args], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                            start_new_session=True)


def _spawn_rq(url: str, cls: str, log: Path) -> subprocess.Popen:
    """`rq worker -w workers.rq_worker.<cls>` on the queue "default", its
    output in ``log``; leases (30 s) outlast the outages the tests make, so
    a task in hand is not run twice."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TASKQ_LEASE="30")
    env.pop("TASKQ_PREFIX", None)
    return subprocess.Popen([str(Path(sys.executable).parent / "rq"), "worker", "-w",
                             f"workers.rq_worker.{cls}", "--url", url, "default"],
                            env=env, cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except redis.ConnectionError:
            pass
        time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def private(tmp_path):
    data = tmp_path / "redis"
    port = free_port()
    servers = [start_server(port=port, data_dir=str(data))]
    yield servers, port, data
    for s in servers:
        s.stop()


def test_worker_and_scheduler_survive_a_redis_restart(private, tmp_path):
    servers, port, data = private
    url = servers[0].url
    runs = tmp_path / "runs.txt"
    worker_log, scheduler_log = tmp_path / "worker.err", tmp_path / "scheduler.err"
    worker = _spawn(url, worker_log, "worker", "-c", "2", "--lease", "20", "default")
    scheduler = _spawn(url, scheduler_log, "scheduler")
    try:
        client = redis.Redis.from_url(url, decode_responses=True)
        q = Queue("default", client)
        before = [q.enqueue(f"{T}:note_run", str(runs), 0.4).id for _ in range(12)]
        assert _wait(lambda: runs.exists() and len(runs.read_text().split()) >= 2, 30)
        client.close()

        servers[0].stop()  # SIGTERM: the AOF is flushed, tasks in it survive
        time.sleep(OUTAGE_SECONDS)
        assert worker.poll() is None and scheduler.poll() is None
        servers.append(start_server(port=port, data_dir=str(data)))

        client = redis.Redis.from_url(url, decode_responses=True)
        q = Queue("default", client)
        after = [q.enqueue(f"{T}:note_run", str(runs)).id for _ in range(12)]
        everything = before + after
        assert _wait(lambda: all(q.get(t).status == "completed" for t in everything), 60), \
            {t: q.get(t).status for t in everything}
        assert worker.poll() is None and scheduler.poll() is None
        # a process that had nothing to do since Redis came back notices it
        # at its next call: wait for the line, do not stop it first
        assert _wait(lambda: all("is back after" in log.read_text()
                                 for log in (worker_log, scheduler_log)), 60)

        ran = runs.read_text().split()
        assert sorted(ran) == sorted(everything)  # each exactly once
        assert all(q.get(t).attempts == 1 for t in everything)
        client.close()
    finally:
        _stop(worker)
        _stop(scheduler)
    for log in (worker_log, scheduler_log):
        text = log.read_text()
        assert "Traceback" not in text, text
        assert text.count("lost Redis") == 1, text
        assert text.count("is back after") == 1, text
    assert worker.returncode == 0, worker_log.read_text()


def test_worker_waits_for_a_redis_that_is_not_there_yet(tmp_path):
    """Unreachable at start: one line, then retries until stopped."""
    port = free_port()
    log = tmp_path / "worker.err"
    worker = _spawn(f"redis://127.0.0.1:{port}/0", log, "worker")
    scheduler = _spawn(f"redis://127.0.0.1:{port}/0", tmp_path / "sched.err", "scheduler")
    try:
        time.sleep(4)
        assert worker.poll() is None and scheduler.poll() is None
    finally:
        _stop(worker)
        _stop(scheduler)
    for path in (log, tmp_path / "sched.err"):
        text = path.read_text()
        assert "Traceback" not in text, text
        assert text.count("cannot reach Redis") == 1, text
        assert f"127.0.0.1:{port}" in text


@pytest.mark.parametrize("cls", ["TaskqWorker", "TaskqSimpleWorker", "TaskqPoolWorker"])
def test_rq_worker_classes_survive_a_redis_restart(cls, private, tmp_path):
    """RQ's own worker ends on the first Redis error after a job; ours keep
    going, and report the task that finished during the outage."""
    servers, port, data = private
    url = servers[0].url
    runs = tmp_path / "runs.txt"
    log = tmp_path / "rq.err"
    client = redis.Redis.from_url(url, decode_responses=True)
    q = Queue("default", client)
    # queued before it starts: a worker that was never idle must know it had Redis
    before = [q.enqueue(f"{T}:note_run", str(runs), 1.0).id for _ in range(3)]
    worker = _spawn_rq(url, cls, log)
    try:
        assert _wait(lambda: runs.exists() and len(runs.read_text().split()) >= 1, 30)
        client.close()
        servers[0].stop()
        time.sleep(RQ_OUTAGE_SECONDS)
        assert worker.poll() is None, log.read_text()
        servers.append(start_server(port=port, data_dir=str(data)))
        client = redis.Redis.from_url(url, decode_responses=True)
        q = Queue("default", client)
        everything = before + [q.enqueue(f"{T}:note_run", str(runs)).id for _ in range(3)]
        assert _wait(lambda: all(q.get(t).status == "completed" for t in everything), 60), \
            ({t: q.get(t).status for t in everything}, log.read_text())
        assert worker.poll() is None
        assert _wait(lambda: "is back after" in log.read_text(), 60)
        assert sorted(runs.read_text().split()) == sorted(everything)
        assert all(q.get(t).attempts == 1 for t in everything)
        client.close()
    finally:
        _stop(worker)
    text = log.read_text()
    assert "Traceback" not in text, text
    # one line when lost and one when back: a forking worker's horse
    # reports nothing itself (its parent does), so it says nothing either
    assert "lost Redis" in text and "cannot reach Redis" not in text, text
    assert text.count("lost Redis") == text.count("is back after") == 1, text
    assert "could not connect to Redis instance" not in text, text  # RQ's line every 2 s
