"""taskq.rq: an RQ producer's calls (Queue, Job, Retry, Dependency,
Callback) create and read taskq tasks, run by taskq's workers and by RQ's
own `rq worker` command with the taskq worker classes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.results import Result

import taskq
from redis_clients import child_env, client_from_url, plain_client
from taskq.rq import Callback, Dependency, Job, JobStatus, Queue, RefusedOption, Retry
from tests.workers.proc_helpers import start_worker

ROOT = Path(__file__).resolve().parents[2]
F = "tests.workers.rq_funcs"


@pytest.fixture
def prefix(monkeypatch, redis_url):
    p = f"rqc-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(Job, "taskq_prefix", p)  # Job.fetch without a prefix= looks here
    yield p
    client = client_from_url(redis_url)
    for name in client.smembers(f"{p}:queues") or []:
        taskq.Queue(name, redis=client, prefix=p).purge()
    keys = list(client.scan_iter(match=f"{p}:*", count=1000))
    if keys:
        for k in keys:
            client.delete(k)


@pytest.fixture(params=["plain", "decoding"])
def conn(request, redis_url):
    """The client an RQ app passes: redis-py's default (bytes) or a decoding one."""
    client = plain_client(redis_url, decode_responses=request.param == "decoding")
    yield client
    client.close()


@pytest.fixture
def worker(redis_url, prefix):
    procs = []

    def start(*queues):
        procs.append(start_worker(redis_url, prefix, *queues))

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=30)


def calls_key(prefix):
    return f"{prefix}:calls"


def test_enqueue_makes_a_task_and_the_job_reads_like_rqs(conn, prefix):
    q = Queue("emails", connection=conn, prefix=prefix)
    job = q.enqueue(f"{F}.add", 2, 3, job_id="welcome-1", meta={"by": "signup"},
                    description="welcome mail")
    assert job.id == "welcome-1" and job.origin == "emails"
    assert job.func_name == f"{F}.add" and job.args == (2, 3) and job.kwargs == {}
    assert job.meta == {"by": "signup"} and job.description == "welcome mail"
    assert job.timeout == 180 and job.result_ttl == 500  # RQ's defaults
    assert job.get_status() == JobStatus.QUEUED and job.is_queued
    task = taskq.Queue("emails", redis=conn, prefix=prefix).get("emails:welcome-1")
    assert task.status == "queued" and task.args == [2, 3] and task.max_retries == 0

    other = q.enqueue(f"{F}.add", 1, 1)
    first = q.enqueue(f"{F}.add", 0, 0, at_front=True)
    assert q.count == 3 and len(q) == 3
    assert q.job_ids == [first.id, "welcome-1", other.id]
    assert [j.id for j in q.jobs] == q.job_ids
    assert Job.fetch("welcome-1", connection=conn).func_name == f"{F}.add"
    assert Job.fetch("emails:welcome-1", connection=conn).id == "welcome-1"
    assert [j and j.id for j in Job.fetch_many(["welcome-1", "nope"], connection=conn)] \
        == ["welcome-1", None]
    assert Job.exists("welcome-1", connection=conn) and not Job.exists("nope", connection=conn)
    with pytest.raises(NoSuchJobError):
        Job.fetch("nope", connection=conn)
    assert q.fetch_job("welcome-1") == job and q.get_job_position(other) == 2


def test_a_taskq_worker_runs_rq_jobs_with_retries_and_callbacks(conn, prefix, worker, redis_url):
    q = Queue("rqc", connection=conn, prefix=prefix)
    calls = calls_key(prefix)
    ok = q.enqueue(f"{F}.add", 20, 22, on_success=Callback(f"{F}.on_ok"), meta={"calls": calls})
    bad = q.enqueue(f"{F}.boom", "no luck", retry=Retry(max=2, interval=[0, 1]),
                    on_failure=Callback(f"{F}.on_fail"), meta={"calls": calls})
    breaks = q.enqueue(f"{F}.add", 1, 1, on_success=f"{F}.on_ok_raises")
    worker("rqc")

    result = ok.latest_result(timeout=30)
    assert result.type == Result.Type.SUCCESSFUL and result.return_value == 42
    assert ok.return_value(refresh=True) == 42 and ok.is_finished and ok.result == 42
    failed = bad.latest_result(timeout=30)
    assert failed.type == Result.Type.FAILED and "ValueError: no luck" in failed.exc_string
    bad.refresh()
    assert bad.is_failed and "no luck" in bad.exc_info and bad.retries_left == 0
    assert bad.retry_intervals == [0, 1]
    logged = [c.decode() if isinstance(c, bytes) else c for c in client_from_url(redis_url).lrange(calls, 0, -1)]
    assert f"success {ok.id} 42" in logged
    assert logged.count(f"failure {bad.id} ValueError: no luck") == 3  # every failed attempt, as RQ
    # a success callback that raises fails the job, as in RQ
    assert breaks.latest_result(timeout=30).type == Result.Type.FAILED
    assert "the success callback failed" in Job.fetch(breaks.id, connection=conn).exc_info
    assert q.finished_job_registry.count == 1 and q.failed_job_registry.count == 2
    assert q.failed_job_registry.get_job_ids() and ok.id in q.finished_job_registry.get_job_ids()


def test_an_async_def_job_runs_its_callbacks_too(conn, prefix, worker, redis_url):
    q = Queue("rqc-async", connection=conn, prefix=prefix)
    calls = calls_key(prefix)
    job = q.enqueue(f"{F}.add_later", 1, 2, on_success=Callback(f"{F}.on_ok"), meta={"calls": calls})
    worker("rqc-async")
    assert job.latest_result(timeout=30).return_value == 3
    assert conn.lrange(calls, 0, -1) in ([f"success {job.id} 3".encode()], [f"success {job.id} 3"])


def test_dependencies_by_job_id_and_dependency_with_allow_failure(conn, prefix, worker):
    a = Queue("deps-a", connection=conn, prefix=prefix)
    b = Queue("deps-b", connection=conn, prefix=prefix)
    parent = a.enqueue(f"{F}.add", 1, 2)
    failing = a.enqueue(f"{F}.boom")
    child = b.enqueue(f"{F}.add", 3, 4, depends_on=parent)  # a Job of another queue
    by_id = b.enqueue(f"{F}.add", 5, 6, depends_on=parent.id)  # its bare RQ id
    tolerant = b.enqueue(f"{F}.add", 7, 8, depends_on=Dependency(jobs=[failing], allow_failure=True))
    strict = b.enqueue(f"{F}.add", 9, 9, depends_on=[failing])
    gone = b.enqueue(f"{F}.add", 0, 1, depends_on="no-such-job")  # RQ: a missing dependency is met
    assert child.get_status() == JobStatus.DEFERRED and child.is_deferred
    assert child.dependency_ids == [parent.id] and not child.dependencies_are_met()
    assert gone.get_status() == JobStatus.QUEUED
    assert b.deferred_job_registry.count == 4
    worker("deps-a", "deps-b")
    assert child.latest_result(timeout=30).return_value == 7
    assert by_id.latest_result(timeout=30).return_value == 11
    assert tolerant.latest_result(timeout=30).return_value == 15
    assert strict.latest_result(timeout=30).type == Result.Type.FAILED
    assert Job.fetch(child.id, connection=conn).dependencies_are_met()


def test_meta_saved_inside_the_job_and_before_it_starts(conn, prefix, worker):
    q = Queue("meta", connection=conn, prefix=prefix)
    job = q.enqueue(f"{F}.progress", "k", meta={"a": 1})
    job.meta["b"] = 2
    del job.meta["a"]
    job.save_meta()  # queued: through Queue.update
    assert Job.fetch(job.id, connection=conn).meta == {"b": 2}
    worker("meta")
    assert job.latest_result(timeout=30).return_value == job.id
    assert job.get_meta() == {"b": 2, "progress": 100, "seen_id": job.id}
    job.meta["late"] = True
    with pytest.raises(InvalidJobOperation):
        job.save_meta()  # finished: final


def test_cancel_requeue_delete_and_scheduling(conn, prefix, worker):
    q = Queue("ops", connection=conn, prefix=prefix)
    job = q.enqueue(f"{F}.add", 1, 1)
    job.cancel()
    assert job.get_status() == JobStatus.CANCELED and job.is_canceled
    assert q.canceled_job_registry.count == 1 and q.count == 0
    with pytest.raises(InvalidJobOperation):
        job.cancel()
    job.requeue()
    assert job.get_status() == JobStatus.QUEUED
    job.delete()
    assert not Job.exists(job.id, connection=conn)

    at = q.enqueue_at(datetime.now(timezone.utc) + timedelta(seconds=1), f"{F}.add", 2, 2)
    later = q.enqueue_in(timedelta(seconds=1), f"{F}.add", 3, 3)
    assert at.get_status() == JobStatus.SCHEDULED and later.is_scheduled
    assert q.scheduled_job_registry.count == 2
    worker("ops")
    assert at.latest_result(timeout=30).return_value == 4
    assert later.latest_result(timeout=30).return_value == 6
    assert at.ended_at >= at.created_at + timedelta(seconds=0.9)


def test_enqueue_many_with_prepare_data(conn, prefix):
    q = Queue("many", connection=conn, prefix=prefix)
    jobs = q.enqueue_many([
        Queue.prepare_data(f"{F}.add", (1, 2), job_id="m1", timeout=30, result_ttl=60),
        Queue.prepare_data(f"{F}.add", kwargs={"a": 1, "b": 2}, retry=Retry(max=3, interval=5)),
        Queue.prepare_data(f"{F}.add", (0, 0), at_front=True),
    ])
    assert [j.id for j in jobs][0] == "m1" and jobs[0].timeout == 30 and jobs[0].result_ttl == 60
    assert jobs[1].retries_left == 3 and jobs[1].retry_intervals == [5]
    assert q.job_ids[0] == jobs[2].id and q.count == 3


def test_rqs_create_save_then_enqueue_job_pattern(conn, prefix, worker):
    """Job.create + save + enqueue_job: the job is RQ's until enqueued, then a
    task (RQ's copy deleted); the object passed in becomes the task's view."""
    q = Queue("pattern", connection=conn, prefix=prefix, default_timeout=90)
    job = Job.create(f"{F}.add", args=(2, 2), connection=conn, id="made-first")
    assert job.return_value() is None and job.result is None
    job.save()
    assert job.get_status() == JobStatus.CREATED and conn.exists(job.key)
    same = q.enqueue_job(job)
    assert same is job and job.origin == "pattern" and job.enqueued_at is not None
    assert job.get_status() == JobStatus.QUEUED and job.timeout == 90  # the queue's default
    assert not conn.exists(job.key)
    before = Job.fetch(job.id, connection=conn)  # a snapshot taken while it waits
    worker("pattern")
    assert job.latest_result(timeout=30) is not None
    assert before.return_value() == 4  # read on demand, as RQ reads the latest result


def test_queue_empty_deletes_the_queued_jobs(conn, prefix):
    q = Queue("empty", connection=conn, prefix=prefix)
    jobs = [q.enqueue(f"{F}.add", i, i) for i in range(3)]
    assert q.empty() == 3 and q.count == 0
    assert not any(Job.exists(j.id, connection=conn) for j in jobs)


def test_what_taskq_refuses_it_refuses_clearly(conn, prefix):
    q = Queue("refused", connection=conn, prefix=prefix)
    for kwargs, words in (({"ttl": 60}, "ttl"), ({"on_stopped": Callback(f"{F}.on_ok")}, "on_stopped")):
        with pytest.raises(RefusedOption, match=words):
            q.enqueue(f"{F}.add", 1, 2, **kwargs)
    with pytest.raises(RefusedOption, match="bound method"):
        from tests.workers.rq_funcs import Thing
        q.enqueue(Thing().method)
    with pytest.raises(taskq.errors.TaskqValueError, match="JSON"):
        q.enqueue(f"{F}.add", object(), 1)
    with pytest.raises(RefusedOption, match="pipeline"):
        q.enqueue(f"{F}.add", 1, 2, pipeline=conn.pipeline())
    with pytest.raises(RefusedOption, match="is_async"):
        Queue("x", connection=conn, is_async=False)
    with pytest.raises(ValueError):
        q.enqueue(f"{F}.add", 1, 2, job_id="has:colon")  # RQ's own id check
    first = q.enqueue(f"{F}.add", 1, 2, job_id="once")
    again = q.enqueue(f"{F}.add", 5, 5, job_id="once")  # the task there is kept, not replaced
    assert again == first and again.args == (1, 2)
    with pytest.raises(DuplicateJobError):
        q.enqueue(f"{F}.add", 1, 2, job_id="once", unique=True)
    assert q.count == 1


def test_hostile_ids_and_values_are_refused_in_a_line(conn, prefix):
    q = Queue("hostile", connection=conn, prefix=prefix)
    deep: dict = {}
    cur = deep
    for _ in range(10_000):
        cur["a"] = {}
        cur = cur["a"]
    with pytest.raises(taskq.errors.TaskqValueError, match="deeper"):
        q.enqueue(f"{F}.add", 1, 2, meta=deep)
    with pytest.raises(taskq.errors.TaskqValueError, match="surrogate"):
        q.enqueue(f"{F}.add", "x\ud800", 1)
    with pytest.raises(ValueError):
        q.enqueue(f"{F}.add", 1, 2, job_id="a\ud800")
    for bad in ("a\ud800", "no such:x", "a b", "-" * 5000):
        with pytest.raises(NoSuchJobError):
            Job.fetch(bad, connection=conn)
    assert Job.fetch_many(["a\ud800", "x"], connection=conn) == [None, None]
    with pytest.raises(TypeError):
        Job.fetch(5, connection=conn)


def test_rqs_own_worker_command_runs_jobs_with_the_taskq_classes(redis_url, prefix):
    conn = plain_client(redis_url)
    q = Queue("rqcmd", connection=conn, prefix=prefix)
    calls = calls_key(prefix)
    job = q.enqueue(f"{F}.add", 4, 5, on_success=Callback(f"{F}.on_ok"), meta={"calls": calls})
    env = child_env(TASKQ_PREFIX=prefix, PYTHONPATH=str(ROOT))
    if os.environ.get("TASKQ_TEST_CLUSTER"):
        pytest.skip("the cluster pass runs rq workers in tests/workers/test_rq_worker.py")
    out = subprocess.run([sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", redis_url,
                          "-w", "workers.rq_worker.TaskqSimpleWorker", "rqcmd"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert job.latest_result().return_value == 9
    assert conn.lrange(calls, 0, -1) == [f"success {job.id} 9".encode()]
