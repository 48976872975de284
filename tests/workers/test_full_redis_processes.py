"""`taskq worker` and `taskq scheduler` ride out a full Redis (maxmemory
reached, noeviction) as they ride out an outage: one line when writes are
refused, one when they are accepted again, no exit, no traceback. Tasks in
hand finish while Redis is full, keep their leases (renewals go through a
full Redis) and report once memory frees: each runs exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from taskq import Queue
from taskq.embedded import redis_server_path

from test_outage import ROOT, T, _spawn, _stop, _wait

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from full_redis import fill, free, private_server  # noqa: E402

FULL_SECONDS = 4.0
"""Longer than the tasks' lease (2 s): only renewals keep them."""
pytestmark = pytest.mark.single_redis  # private servers of their own: nothing to run on a cluster


def test_worker_and_scheduler_ride_out_a_full_redis(tmp_path):
    runs = tmp_path / "runs.txt"
    worker_log, scheduler_log = tmp_path / "worker.err", tmp_path / "scheduler.err"
    with private_server(redis_server_path(), tmp_path) as url:
        client = redis.Redis.from_url(url, decode_responses=True)
        q = Queue("default", client)
        worker = _spawn(url, worker_log, "worker", "-c", "4", "--lease", "2", "default")
        scheduler = _spawn(url, scheduler_log, "scheduler")
        try:
            warm = [q.enqueue(f"{T}:note_run", str(runs)).id for _ in range(4)]
            assert _wait(lambda: all(q.get(t).status == "completed" for t in warm), 30)
            # four tasks in hand, each finishing while Redis is full
            held = [q.enqueue(f"{T}:note_run", str(runs), 1.5).id for _ in range(4)]
            assert _wait(lambda: all(q.get(t).status == "running" for t in held), 30)
            fill(client)
            assert _wait(lambda: runs.exists() and len(runs.read_text().split()) >= 8, 30)
            assert _wait(lambda: "is full and refuses writes" in worker_log.read_text(), 30)
            time.sleep(FULL_SECONDS)  # the Redis stays full a while: no condition to wait on
            assert worker.poll() is None and scheduler.poll() is None
            assert all(q.get(t).status == "running" for t in held)  # leases renewed, not reaped
            free(client)
            after = [q.enqueue(f"{T}:note_run", str(runs)).id for _ in range(4)]
            everything = warm + held + after
            assert _wait(lambda: all(q.get(t).status == "completed" for t in everything), 60), \
                {t: q.get(t).status for t in everything}
            assert _wait(lambda: "accepts writes again" in worker_log.read_text(), 30)
            assert sorted(runs.read_text().split()) == sorted(everything)  # each exactly once
            assert all(q.get(t).attempts == 1 for t in everything)
            assert worker.poll() is None and scheduler.poll() is None
        finally:
            _stop(worker)
            _stop(scheduler)
    text = worker_log.read_text()
    assert "Traceback" not in text, text
    assert text.count("is full and refuses writes") == 1, text
    assert text.count("accepts writes again") == 1, text
    assert "Traceback" not in scheduler_log.read_text(), scheduler_log.read_text()
    assert worker.returncode == 0, text


@pytest.mark.parametrize("cls", ["TaskqWorker", "TaskqSimpleWorker", "TaskqPoolWorker"])
def test_rq_worker_classes_ride_out_a_full_redis(cls, tmp_path):
    """RQ's bookkeeping after a job (MULTI/EXEC, which a full Redis refuses)
    must not end the worker; the task's outcome is reported once memory
    frees, and each task runs once."""
    runs, log = tmp_path / "runs.txt", tmp_path / "rq.err"
    with private_server(redis_server_path(), tmp_path) as url:
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   TASKQ_LEASE="30")
        env.pop("TASKQ_PREFIX", None)
        client = redis.Redis.from_url(url, decode_responses=True)
        q = Queue("default", client)
        before = [q.enqueue(f"{T}:note_run", str(runs), 1.5).id for _ in range(2)]
        worker = subprocess.Popen([str(Path(sys.executable).parent / "rq"), "worker", "-w",
                                   f"workers.rq_worker.{cls}", "--url", url, "default"],
                                  env=env, cwd=ROOT, stdout=open(log, "w"),
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            assert _wait(lambda: q.get(before[0]).status == "running", 30), log.read_text()
            fill(client)
            assert _wait(lambda: runs.exists() and len(runs.read_text().split()) >= 1, 30)
            time.sleep(FULL_SECONDS)  # the Redis stays full a while
            assert worker.poll() is None, log.read_text()
            free(client)
            everything = before + [q.enqueue(f"{T}:note_run", str(runs)).id for _ in range(2)]
            assert _wait(lambda: all(q.get(t).status == "completed" for t in everything), 60), \
                ({t: q.get(t).status for t in everything}, log.read_text())
            assert sorted(runs.read_text().split()) == sorted(everything)
            assert all(q.get(t).attempts == 1 for t in everything)
            assert worker.poll() is None
        finally:
            _stop(worker)
    text = log.read_text()
    assert "Traceback" not in text, text
    assert "is full and refuses writes" in text, text
