"""`taskq worker` and `taskq scheduler` ride out a full Redis (maxmemory
reached, noeviction): one line when writes are refused, one when they are
accepted again, no exit, no traceback. What drains work goes through a full
Redis (taskq/lua/includes/full.lua): tasks in hand and queued ones complete
while it is full, each exactly once; new work waits for memory to free.
The rq worker classes, whose RQ bookkeeping a full Redis refuses, wait as
in an outage and report once memory frees."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import redis

from taskq import Queue, RedisFull
from taskq.local.embedded import redis_server_path

from test_outage import T, _spawn, _spawn_rq, _stop, _wait

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
            assert _wait(lambda: all(q.get(t).status == "completed" for t in held), 30)
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
        client = redis.Redis.from_url(url, decode_responses=True)
        q = Queue("default", client)
        before = [q.enqueue(f"{T}:note_run", str(runs), 1.5).id for _ in range(2)]
        worker = _spawn_rq(url, cls, log)
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


def test_enqueue_until_refused_then_retention_frees_room_and_everything_completes_once(tmp_path):
    """The fill test: a producer enqueues faster than a worker drains until
    Redis refuses (maxmemory a few MB above the start, noeviction); the
    scheduler's retention (1 s) frees room; the producer retries what was
    refused. Every task acknowledged to it runs exactly once and ends
    completed (its hash, or its tombstone once retention removed it); no
    process exits."""
    runs = tmp_path / "runs.txt"
    worker_log, scheduler_log = tmp_path / "worker.err", tmp_path / "scheduler.err"
    want, refusals, acked = 4000, 0, []
    with private_server(redis_server_path(), tmp_path) as url:
        client = redis.Redis.from_url(url, decode_responses=True)
        q = Queue("default", client)
        q.enqueue(f"{T}:note_run", str(runs))  # registered; its scripts loaded
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory", used + 2 * 1024 * 1024)
        env = {"TASKQ_KEEP_COMPLETED": "1", "TASKQ_KEEP_FAILED": "1"}
        worker = _spawn(url, worker_log, "worker", "-c", "4", "default", env=env)
        scheduler = _spawn(url, scheduler_log, "scheduler", env=env)
        try:
            deadline = time.monotonic() + 240
            while len(acked) < want and time.monotonic() < deadline:
                try:
                    acked += [t.id for t in q.enqueue_many(
                        [{"func": f"{T}:note_run", "args": [str(runs)]}] * 200)]
                except RedisFull as exc:
                    refusals += 1
                    acked += [t.id for t in exc.enqueued]
                    time.sleep(0.2)
            assert refusals > 0, "Redis never filled up: the test proves nothing"
            assert len(acked) >= want

            def ended(tid: str) -> str | None:
                task = q.get(tid)
                gone = q.removed(tid) if task is None else None
                return task.status if task else (gone or {}).get("status")

            assert _wait(lambda: runs.exists() and len(set(runs.read_text().split())
                                                        & set(acked)) == len(acked), 240)
            assert all(ended(t) == "completed" for t in acked)
            assert worker.poll() is None and scheduler.poll() is None
        finally:
            _stop(worker)
            _stop(scheduler)
    ran = [t for t in runs.read_text().split() if t in set(acked)]
    assert sorted(ran) == sorted(acked)  # each exactly once
    for log in (worker_log, scheduler_log):
        assert "Traceback" not in log.read_text(), log.read_text()
    assert worker.returncode == 0
