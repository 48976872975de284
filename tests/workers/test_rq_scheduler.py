"""rq-scheduler (the real package) schedules into taskq: its jobs become
taskq tasks when due, moved by the real `rqscheduler` or by
`taskq scheduler --rq-scheduler`, exactly once however many run.

rq-scheduler's keys have no prefix, so these tests run on a Redis server of
their own."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from rq_scheduler import Scheduler as PlainScheduler

import taskq
from redis_clients import child_env
from taskq.local.embedded import start_server
from taskq.errors import TaskqValueError
from taskq.rq import Job
from taskq.rq.scheduler import Scheduler

pytestmark = pytest.mark.single_redis  # rq-scheduler keeps its jobs on one Redis

ROOT = Path(__file__).resolve().parents[2]
F = "tests.workers.rq_funcs"
RQSCHEDULER = str(Path(sys.executable).with_name("rqscheduler"))


@pytest.fixture(scope="module")
def server():
    s = start_server(persistent=False)
    yield s
    s.stop()


@pytest.fixture
def conn(server):
    client = redis.Redis.from_url(server.url)
    client.flushdb()  # our own server
    yield client
    client.close()


@pytest.fixture
def prefix(monkeypatch):
    p = f"rqs-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(Job, "taskq_prefix", p)
    return p


@pytest.fixture
def movers(server, prefix):
    procs = []

    def start(taskq_schedulers: int = 0, rqschedulers: int = 0, queue_class: bool = True):
        env = child_env(TASKQ_PREFIX=prefix, PYTHONPATH=str(ROOT), REDIS_URL=server.url)
        for _ in range(taskq_schedulers):
            procs.append(subprocess.Popen([sys.executable, "-m", "taskq.cli", "scheduler",
                                           "--rq-scheduler", "-q"], env=env, cwd=ROOT,
                                          stderr=subprocess.PIPE, text=True))
        extra = ["--queue-class", "taskq.rq.Queue"] if queue_class else []
        for _ in range(rqschedulers):
            procs.append(subprocess.Popen([RQSCHEDULER, "--url", server.url, "-i", "0.2", *extra],
                                          env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True))
        return procs

    yield start
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)


def tasks_of(conn, prefix, queue):
    q = taskq.Queue(queue, redis=conn, prefix=prefix)
    return sorted(t.id for t in q.list(limit=1000))


def test_the_scheduler_api_counts_lists_and_cancels(conn):
    s = Scheduler("reports", connection=conn)
    at = s.enqueue_at(datetime.now(timezone.utc) + timedelta(hours=1), f"{F}.add", 1, 2)
    later = s.enqueue_in(timedelta(minutes=5), f"{F}.add", 3, 4)
    every = s.schedule(datetime.now(timezone.utc) + timedelta(hours=2), f"{F}.add", args=[1, 1],
                       interval=60, repeat=3)
    nightly = s.cron("0 3 * * *", f"{F}.add", args=[0, 0])
    assert s.count() == 4 and at in s and later in s
    assert {j.id for j in s.get_jobs()} == {at.id, later.id, every.id, nightly.id}
    assert [j.id for j in s.get_jobs(until=timedelta(minutes=10))] == [later.id]
    s.cancel(at)
    assert s.count() == 3 and at not in s
    # what taskq could not run is refused when scheduled, not when due
    with pytest.raises(TaskqValueError, match="JSON"):
        s.enqueue_in(timedelta(seconds=1), f"{F}.add", object(), 1)
    with pytest.raises(TaskqValueError, match="ttl"):
        s.enqueue_in(timedelta(seconds=1), f"{F}.add", 1, 1, job_ttl=10)
    assert s.count() == 3


def test_due_jobs_become_tasks_exactly_once_with_several_schedulers_racing(conn, prefix, movers,
                                                                          wait_for):
    s = Scheduler("due", connection=conn)
    soon = datetime.now(timezone.utc) + timedelta(seconds=1)
    once = [s.enqueue_at(soon, f"{F}.add", i, i) for i in range(30)]
    every = s.schedule(soon, f"{F}.add", args=[1, 2], interval=1, repeat=3)
    movers(taskq_schedulers=2, rqschedulers=2)
    want = {f"due:{j.id}" for j in once}
    assert wait_for(lambda: len([t for t in tasks_of(conn, prefix, "due")
                                 if t.startswith(f"due:{every.id}-")]) == 3, timeout=45)
    ids = tasks_of(conn, prefix, "due")
    assert want <= set(ids) and len(ids) == 33, ids  # 30 one-offs, 3 runs of the repeating one
    runs = sorted(int(t.rsplit("-", 1)[1]) for t in ids if t.startswith(f"due:{every.id}-"))
    assert len(set(runs)) == 3
    assert s.count() == 0  # nothing left to move
    assert conn.keys("rq:job:*") == []  # RQ's hashes of moved jobs are gone: their tasks are taskq's
    task = taskq.Queue("due", redis=conn, prefix=prefix).get(f"due:{once[0].id}")
    assert task.func == f"{F}.add" and task.args == [0, 0] and task.status == "queued"
    assert Job.fetch(once[0].id, connection=conn).get_status() == "queued"


def test_a_plain_rqscheduler_moves_jobs_scheduled_for_taskq(conn, prefix, movers, wait_for):
    """rq-scheduler's own Scheduler, told the queue class by name, records it
    in each job: any rqscheduler, without options, moves them into taskq."""
    s = PlainScheduler("plain", connection=conn, queue_class="taskq.rq.Queue")
    job = s.enqueue_in(timedelta(seconds=0), f"{F}.add", 5, 6)
    movers(rqschedulers=1, queue_class=False)
    assert wait_for(lambda: tasks_of(conn, prefix, "plain") == [f"plain:{job.id}"], timeout=30)


def test_a_job_taskq_cannot_run_is_unscheduled_and_the_scheduler_goes_on(conn, prefix, movers,
                                                                         wait_for):
    s = PlainScheduler("mixed", connection=conn)  # no taskq checks at schedule time
    bad = s.enqueue_in(timedelta(seconds=0), f"{F}.add", object(), 1)
    good = s.enqueue_in(timedelta(seconds=0), f"{F}.add", 1, 1)
    procs = movers(taskq_schedulers=1)
    assert wait_for(lambda: tasks_of(conn, prefix, "mixed") == [f"mixed:{good.id}"], timeout=30)
    assert wait_for(lambda: bad not in s, timeout=30)
    assert procs[0].poll() is None  # still running


def test_any_error_of_one_job_unschedules_it_and_the_jobs_behind_it_move(conn, monkeypatch, caplog):
    """Not only TaskqValueError: whatever one job raises (a bug, a value no
    check foresaw) is logged with its id and unschedules it, in-process."""
    from taskq.rq import queue as rq_queue
    from taskq.rq.scheduler import Mover

    s = PlainScheduler("odd", connection=conn, queue_class="taskq.rq.Queue")
    soon = datetime.now(timezone.utc) - timedelta(seconds=5)
    bad = s.enqueue_at(soon, f"{F}.add", 1, 1)
    huge = s.enqueue_at(soon, f"{F}.add", 2, 2, timeout=10 ** 400)
    good = s.enqueue_at(soon + timedelta(seconds=1), f"{F}.add", 3, 3)
    real = rq_queue.options_of

    def options_of(job, *args, **kwargs):
        if job.id == bad.id:
            raise RuntimeError("not foreseen")
        return real(job, *args, **kwargs)

    monkeypatch.setattr(rq_queue, "options_of", options_of)
    mover = Mover(conn)
    assert mover.upkeep() == 1
    q = taskq.Queue("odd", redis=conn)
    assert sorted(t.id for t in q.list(limit=100)) == [f"odd:{good.id}"]
    assert bad not in s and huge not in s and s.count() == 0
    logged = caplog.text
    assert bad.id in logged and "not foreseen" in logged and huge.id in logged
    q.purge()
