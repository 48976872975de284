"""What taskq.rq's calls cost in Redis commands and round trips (the
``counted`` fixture's client), and the adapter pieces RQ's tools reuse
(workers.rq_queue), the scheduler's non-decoding client."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from redis.client import Pipeline
from rq.exceptions import InvalidJobOperation, NoSuchJobError

import taskq
from taskq.rq import Job, JobStatus, Queue
from taskq.rq.queue import _REGISTRIES

F = "tests.workers.rq_funcs"


@pytest.fixture
def sent(counted, monkeypatch):
    """Every command ``counted`` sends, with its arguments, and how many round
    trips (a command alone, or a pipeline) carried them."""
    log, trips = [], []
    send = counted.execute_command

    def execute_command(*args, **options):
        log.append(args)
        trips.append(1)
        return send(*args, **options)

    counted.execute_command = execute_command
    pool, run = counted.connection_pool, Pipeline.execute

    def execute(self, raise_on_error=True):
        if self.connection_pool is pool:
            log.extend(args for args, _ in self.command_stack)
            trips.append(1)
        return run(self, raise_on_error)

    monkeypatch.setattr(Pipeline, "execute", execute)

    def reset():
        log.clear()
        trips.clear()
        counted.counts.clear()

    return type("Sent", (), {"log": log, "trips": trips, "reset": staticmethod(reset)})


@pytest.fixture
def queue(counted, prefix):
    return Queue("costs", connection=counted, prefix=prefix)


def fill(q: Queue, n: int) -> list[str]:
    """``n`` queued tasks, in one enqueue call per 1000; their task ids in run order."""
    return [t.id for t in q.taskq.enqueue_many([{"func": f"{F}.add", "args": [i, 1]}
                                                for i in range(n)])]


# -- 13: enqueue(job_id=) does not look for RQ's hash ---------------------------------
def test_enqueue_with_a_job_id_sends_no_exists_of_rq_job_keys(queue, sent, counted):
    sent.reset()
    job = queue.enqueue(f"{F}.add", 1, 2, job_id="mine")
    assert job.task_id == "costs:mine" and job.get_status(refresh=False) == JobStatus.QUEUED
    assert not [a for a in sent.log if str(a[0]).upper() == "EXISTS"], sent.log
    # enqueue_at / enqueue_in end in schedule_job: no look either
    sent.reset()
    queue.enqueue_in(timedelta(hours=1), f"{F}.add", 1, 2, job_id="later")
    assert counted.counts["EXISTS"] == 0


def test_a_job_saved_the_rq_way_is_still_handed_over(queue, counted, sent):
    """Job.create(...).save(), and create_job(...) then save(): RQ's hash is
    looked for, and deleted once the task exists."""
    made = queue.create_job(f"{F}.add", args=(1, 2), job_id="made")
    made.save()  # stored the RQ way now
    assert counted.exists("rq:job:made")
    sent.reset()
    assert queue.enqueue_job(made).task_id == "costs:made"
    assert any(str(a[0]).upper() == "EXISTS" for a in sent.log)
    assert not counted.exists("rq:job:made")
    job = Job.create(f"{F}.add", args=(3, 4), id="created", connection=counted, origin="costs")
    job.save()
    assert queue.enqueue_job(job).task_id == "costs:created" and not counted.exists("rq:job:created")


# -- 14: position, empty, cancel ------------------------------------------------------
@pytest.mark.parametrize("n", [3, 1005])
def test_get_job_position_is_one_zrank_whatever_the_length(queue, sent, counted, n):
    ids = fill(queue, n)
    local = [i.partition(":")[2] for i in ids]
    sent.reset()
    assert queue.get_job_position(local[-1]) == n - 1
    assert dict(counted.counts) == {"ZRANK": 1}
    assert queue.get_job_position(queue.fetch_job(local[1])) == 1  # a job, as RQ takes
    assert queue.get_job_position(local[0]) == 0  # 0-based, next to run first
    assert queue.get_job_position("no-such") is None
    assert queue.get_job_position(ids[0]) is None  # a task id is not an RQ id (as before)
    assert queue.get_job_position("\ud800") is None  # an id Redis cannot store names no job
    if n < 10:
        assert [queue.get_job_position(i) for i in queue.get_job_ids()] == list(range(n))


def test_empty_deletes_in_one_pipeline(queue, sent, counted):
    fill(queue, 40)
    other = taskq.Queue("costs", redis=counted, prefix=queue.prefix)
    done = other.enqueue(f"{F}.add", 1, 1, delay=3600)  # not queued: kept
    sent.reset()
    assert queue.empty() == 40
    assert counted.counts["EVALSHA"] == 40
    assert len(sent.trips) == 2, sent.log  # read the ids, then one pipeline of deletes
    assert queue.count == 0 and other.get(done.id).status == "delayed"
    assert queue.empty() == 0


def test_empty_resolves_dependents_of_what_it_deletes(queue, counted):
    first = queue.enqueue(f"{F}.add", 1, 1)
    after = queue.enqueue(f"{F}.add", 2, 2, depends_on=first)
    assert after.get_status() == JobStatus.DEFERRED
    assert queue.empty() == 1
    assert queue.taskq.get(first.task_id) is None
    assert after.get_status() != JobStatus.DEFERRED  # the outbox was drained, as Queue.delete does


def test_cancel_is_one_script_call(queue, sent, counted):
    job = queue.enqueue(f"{F}.add", 1, 2)
    sent.reset()
    job.cancel()
    assert dict(counted.counts) == {"EVALSHA": 1} and len(sent.trips) == 1
    assert job.get_status(refresh=False) == JobStatus.CANCELED
    assert job.get_status() == JobStatus.CANCELED
    with pytest.raises(InvalidJobOperation, match="already canceled"):
        job.cancel()
    queue.taskq.delete(job.task_id)
    with pytest.raises(InvalidJobOperation, match="no longer exists"):
        job.cancel()


def test_cancelling_a_running_job_leaves_it_started_until_its_holder_stops(queue):
    job = queue.enqueue(f"{F}.add", 1, 2)
    [lease] = queue.taskq.claim(1, lease=60)
    job.cancel()
    assert job.get_status(refresh=False) == JobStatus.STARTED == job.get_status()


# -- 12: save_meta reads the meta once --------------------------------------------------
def test_save_meta_reads_meta_once_and_removes_dropped_keys(queue, sent, counted):
    job = queue.enqueue(f"{F}.add", 1, 2, meta={"keep": 1, "drop": 2})
    job.meta = {"keep": 3, "new": [1, {"a": None}]}
    sent.reset()
    job.save_meta()
    assert dict(counted.counts) == {"HMGET": 1, "EVALSHA": 1}, counted.counts
    assert queue.taskq.get(job.task_id).meta == {"keep": 3, "new": [1, {"a": None}]}


def test_save_meta_merges_over_a_change_made_meanwhile(queue, monkeypatch):
    """The merge is a function of the meta the update reads: a write between
    its read and its script makes it read and merge again."""
    job = queue.enqueue(f"{F}.add", 1, 2, meta={"a": 1})
    real, raced = taskq.Queue._run_update, []

    def run_update(self, task_id, spec):
        if not raced:  # another update lands between this one's read and its write
            raced.append(1)
            taskq.Queue("costs", redis=self.redis, prefix=queue.prefix).update(
                task_id, meta={"b": 2})
        return real(self, task_id, spec)

    monkeypatch.setattr(taskq.Queue, "_run_update", run_update)
    job.meta = {"a": 5}
    job.save_meta()
    # merged again over {"a": 1, "b": 2}: 'b' is not in job.meta, so it goes (RQ's meta is whole)
    assert raced and queue.taskq.get(job.task_id).meta == {"a": 5}


def test_save_meta_of_a_gone_or_finished_job(queue):
    job = queue.enqueue(f"{F}.add", 1, 2)
    queue.taskq.delete(job.task_id)
    with pytest.raises(NoSuchJobError):
        job.save_meta()
    done = queue.enqueue(f"{F}.add", 1, 2)
    queue.taskq.cancel(done.task_id)
    with pytest.raises(InvalidJobOperation):
        done.save_meta()


# -- 10: queue names ---------------------------------------------------------------
def test_queue_all_and_bare_ids_use_taskqs_queue_list(counted, prefix, redis_url):
    for name in ("b", "a"):
        Queue(name, connection=counted, prefix=prefix).enqueue(f"{F}.add", 1, 1, job_id="same")
    plain = redis.Redis.from_url(redis_url)  # bytes
    try:
        assert [q.name for q in Queue.all(connection=plain, prefix=prefix)] == ["a", "b"]
    finally:
        plain.close()
    assert Job.fetch("same", counted, prefix=prefix).task_id == "a:same"  # first by name
    assert Queue("b", connection=counted, prefix=prefix).fetch_job("same").task_id == "b:same"


# -- 11: the scheduler's client does not decode, over a pool like the caller's ----------
@pytest.mark.single_redis  # a pool of one server (the mover refuses a cluster)
@pytest.mark.parametrize("pool_class", [redis.ConnectionPool, redis.BlockingConnectionPool])
def test_raw_client_keeps_the_pool_kind_and_does_not_decode(redis_url, pool_class):
    from taskq.rq.scheduler import raw_client

    pool = pool_class.from_url(redis_url, decode_responses=True, max_connections=7)
    client = redis.Redis(connection_pool=pool)
    raw = raw_client(client)
    try:
        assert type(raw.connection_pool) is pool_class
        assert raw.connection_pool.max_connections == 7
        assert raw.connection_pool.connection_kwargs["decode_responses"] is False
        assert client.connection_pool.connection_kwargs["decode_responses"] is True
        assert raw.echo("x") == b"x" and client.echo("x") == "x"
    finally:
        raw.close()
        client.close()


# -- 9: RQ's tools see taskq.rq's classes ------------------------------------------------
def test_the_tools_queue_reuses_taskq_rqs_queue_registries_and_job():
    from workers import rq_queue

    assert issubclass(rq_queue.TaskqQueue, Queue)
    assert issubclass(rq_queue.TaskqJobView, Job)
    assert set(rq_queue.REGISTRIES) == set(_REGISTRIES.values())


def test_the_tools_view_of_a_task(counted, prefix, monkeypatch):
    from workers.rq_job import rq_job_id
    from workers.rq_queue import TaskqJobView, TaskqQueue

    monkeypatch.setattr(Job, "taskq_prefix", prefix)
    q = Queue("tools", connection=counted, prefix=prefix)
    first = q.enqueue(f"{F}.add", 1, 2)
    blocked = q.enqueue(f"{F}.add", 3, 4, depends_on=first)
    [tools] = TaskqQueue.all(connection=counted, prefix=prefix)
    assert tools.count == 1 and tools.deferred_job_registry.count == 1
    view = tools.fetch_job(blocked.id)
    assert isinstance(view, TaskqJobView) and view.id == blocked.task_id  # the full task id
    assert view.get_status() == "blocked"  # taskq's name
    assert view.dependency_ids == [first.task_id.encode()]
    assert view.description.startswith(f"{F}.add(") or view.description.startswith(f"{F}:add(")
    assert TaskqJobView.fetch(rq_job_id(first.task_id), counted).id == first.task_id
    assert TaskqJobView.fetch(first.id, counted).id == first.task_id
    with pytest.raises(NoSuchJobError):
        TaskqJobView.fetch("nothing", counted)
    # a registry made by queue name, as rq-dashboard makes them (its job class's prefix)
    registry = _REGISTRIES["deferred"]("tools", connection=counted, job_class=TaskqJobView)
    assert registry.get_job_count(cleanup=False) == 1 == registry.count
    assert registry.get_job_ids() == [blocked.id]
