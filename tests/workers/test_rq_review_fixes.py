"""taskq.rq and its worker side, as an RQ app uses them: callbacks that save
meta, views on a non-default prefix, names workers cannot import, values
out of range, ids two queues share or Redis cannot store."""

from __future__ import annotations

import pytest

import taskq
from redis_clients import plain_client
from taskq.errors import TaskNotFound, TaskqValueError
from taskq.lease import Lease
from taskq.options import InvalidField
from taskq.rq import Callback, Dependency, Job, Queue, get_current_job
from workers.pool import PoolWorker

F = "tests.workers.rq_funcs"
HERE = "tests.workers.test_rq_review_fixes"


@pytest.fixture
def conn(redis_url):
    client = plain_client(redis_url)
    yield client
    client.close()


# -- callbacks and the job's own view (run by the worker, imported by name) ----------
def meta_on_success(job, connection, result):
    job.refresh()  # reads the task on the worker's prefix
    job.meta["ok"] = result
    job.meta["status"] = job.get_status().value
    job.save_meta()  # RQ's way of recording what a callback saw
    current = get_current_job()
    current.refresh()
    current.meta["current"] = current.id if current.meta.get("ok") == result else "stale"
    current.save_meta()


def meta_on_failure(job, connection, exc_type, exc, tb):
    job.refresh()
    job.meta["why"] = f"{exc_type.__name__}: {exc}"
    job.save_meta()


def reads_itself():
    job = get_current_job()
    job.refresh()
    job.meta["seen"] = job.get_status().value
    job.save_meta()
    return job.get_meta()["seen"]


def test_callbacks_save_meta_in_the_tasks_context_on_a_non_default_prefix(r, prefix, conn):
    assert Job.taskq_prefix != prefix  # no monkeypatching: the views take the worker's prefix
    q = Queue("cbs", connection=conn, prefix=prefix)
    ok = q.enqueue(f"{F}.add", 2, 3, on_success=Callback(f"{HERE}.meta_on_success"))
    bad = q.enqueue(f"{F}.boom", "no luck", on_failure=f"{HERE}.meta_on_failure")
    me = q.enqueue(f"{HERE}.reads_itself")
    PoolWorker(r, ["cbs"], prefix=prefix).run(burst=True)
    tq = taskq.Queue("cbs", redis=r, prefix=prefix)
    done = tq.get(ok.task_id)
    assert done.status == "completed", done.error
    assert done.meta == {"ok": 5, "status": "started", "current": ok.id}
    failed = tq.get(bad.task_id)
    assert failed.status == "failed" and failed.meta == {"why": "ValueError: no luck"}
    mine = tq.get(me.task_id)
    assert mine.status == "completed" and mine.result == "started" and mine.meta == {"seen": "started"}


# -- names a worker cannot import --------------------------------------------------
def test_a_lambda_or_local_function_is_refused_at_enqueue(conn, prefix):
    q = Queue("names", connection=conn, prefix=prefix)

    def local(job, connection, result):
        pass

    with pytest.raises(TaskqValueError, match="not importable by workers") as own:
        taskq.Queue("names", redis=conn, prefix=prefix).enqueue(lambda: 1)
    with pytest.raises(type(own.value), match=r"^'[\w.<>]+\.<lambda>' is not importable by "
                                              r"workers \(lambda or local\)$"):
        q.enqueue(lambda: 1)
    with pytest.raises(TaskqValueError, match="not importable by workers"):
        q.enqueue(local)
    with pytest.raises(TaskqValueError, match="on_success: .* not importable by workers"):
        q.enqueue(f"{F}.add", 1, 1, on_success=Callback(local))
    with pytest.raises(TaskqValueError, match="on_failure: .* not importable by workers"):
        q.enqueue(f"{F}.add", 1, 1, on_failure=Callback(lambda *a: None))
    assert q.count == 0

    @taskq.task
    def registered(a):  # found by its registered name, in the process that registered it
        return a

    assert "<locals>" in registered.taskq_name
    assert q.enqueue(registered.taskq_name, 1)._task.func == registered.taskq_name


# -- numbers beyond any float --------------------------------------------------------
@pytest.mark.parametrize("option", ["timeout", "delay", "lease", "backoff_base", "scheduled_at",
                                    "keep_completed", "keep_failed"])
def test_a_huge_integer_is_a_taskq_value_error_naming_the_option(r, prefix, option):
    q = taskq.Queue("huge", redis=r, prefix=prefix)
    with pytest.raises(TaskqValueError, match=option):
        q.enqueue(f"{F}.add", args=[1, 1], **{option: 10 ** 400})
    task = q.enqueue(f"{F}.add", args=[1, 1])
    if option in ("timeout", "scheduled_at"):
        with pytest.raises(TaskqValueError, match=option):
            q.update(task.id, **{option: 10 ** 400})
    assert q.count("queued") == 1


def test_rqs_job_timeout_beyond_any_float_is_refused(conn, prefix):
    q = Queue("huge", connection=conn, prefix=prefix)
    with pytest.raises(TaskqValueError, match="timeout"):
        q.enqueue(f"{F}.add", 1, 1, job_timeout=10 ** 400)
    assert q.count == 0


# -- meta saved from inside a task: checked as enqueue checks it ----------------------
def deep(n):
    value: dict = {}
    for _ in range(n):
        value = {"a": value}
    return value


@pytest.mark.parametrize("meta", [deep(10_000), {"a": object()}, {"a": float("nan")},
                                  {"a": 10 ** 5000}], ids=["deep", "object", "nan", "huge-int"])
def test_lease_save_meta_refuses_what_enqueue_refuses(r, prefix, meta):
    q = taskq.Queue("meta", redis=r, prefix=prefix)
    with pytest.raises(TaskqValueError) as at_enqueue:
        q.enqueue(f"{F}.add", args=[1, 1], meta=meta)
    q.enqueue(f"{F}.add", args=[1, 1], meta={"kept": 1})
    [lease] = q.claim()
    assert isinstance(lease, Lease)
    with pytest.raises(type(at_enqueue.value)) as saved:
        lease.save_meta(meta)
    assert str(saved.value) == str(at_enqueue.value)
    assert q.get(lease.id).meta == {"kept": 1}


def test_job_save_meta_with_a_meta_not_a_dict_is_a_taskq_value_error(conn, prefix):
    job = Queue("meta", connection=conn, prefix=prefix).enqueue(f"{F}.add", 1, 1)
    job.meta = [("a", 1), "xyz"]
    with pytest.raises(TaskqValueError, match="meta must be a dict"):
        job.save_meta()


def test_args_nested_too_deep_are_taskqs_error_not_a_recursion_error(conn, prefix):
    q = Queue("deep", connection=conn, prefix=prefix)
    with pytest.raises(InvalidField, match="args: nests deeper"):
        q.enqueue(f"{F}.add", deep(10_000), 1)
    with pytest.raises(InvalidField, match="kwargs: nests deeper"):
        q.enqueue(f"{F}.add", a=deep(10_000), b=1)
    assert q.count == 0


# -- ids -------------------------------------------------------------------------------
def test_a_bare_id_two_queues_share_means_the_callers_queue(conn, prefix):
    a, b = Queue("a", connection=conn, prefix=prefix), Queue("b", connection=conn, prefix=prefix)
    a.enqueue(f"{F}.add", 1, 1, job_id="x")
    b.enqueue(f"{F}.add", 2, 2, job_id="x")
    dependent = b.enqueue(f"{F}.add", 3, 3, depends_on="x")
    assert dependent.dependency_ids == ["x"] and dependent._task.dependencies == ["b:x"]
    with_dep = b.enqueue(f"{F}.add", 3, 3, depends_on=Dependency(jobs=["x"]))
    assert with_dep._task.dependencies == ["b:x"]
    assert a.enqueue(f"{F}.add", 4, 4, depends_on="x")._task.dependencies == ["a:x"]
    assert b.fetch_job("x").origin == "b" and a.fetch_job("x").origin == "a"
    assert Job.fetch("x", connection=conn, prefix=prefix).origin == "a"  # documented: first by name
    assert Job.fetch("b:x", connection=conn, prefix=prefix).origin == "b"


def test_an_id_redis_cannot_store_is_not_found(conn, r, prefix):
    q = Queue("ids", connection=conn, prefix=prefix)
    q.enqueue(f"{F}.add", 1, 1)
    assert q.fetch_job("\ud800") is None and q.fetch_job("nope") is None
    with pytest.raises(TaskNotFound):
        q.remove("nope")
    with pytest.raises(TaskNotFound):
        q.remove("\ud800")
    tq = taskq.Queue("ids", redis=r, prefix=prefix)
    assert tq.get("ids:\ud800") is None and tq.removed("ids:\ud800") is None
    assert taskq.get_task("ids:\ud800", redis=r, prefix=prefix) is None
    with pytest.raises(TaskNotFound):
        tq.cancel("ids:\ud800")
    assert Job.fetch_many(["\ud800", "ids:\ud800"], connection=conn, prefix=prefix) == [None, None]
    assert not Job.exists("\ud800", connection=conn, prefix=prefix)
    assert q.count == 1
