"""The taskq RQ worker classes, as real ``rq worker`` processes on a real
Redis: tasks run to completion exactly once through crashes, shutdowns,
timeouts, lost leases, cancels and RQ's own commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from polling import until
from redis_clients import child_env
from taskq import maintenance
from taskq.worker_registry import WorkerRegistry
from workers.rq_worker import rq_job_id, task_id_of

ROOT = Path(__file__).resolve().parents[2]
T = "tests.workers.tasks"

# -- helpers -------------------------------------------------------------------
def wait_for(cond, timeout: float = 10.0, what: str = "condition", procs=()):
    return until(cond, what, timeout,
                 lambda: "\n".join(f"--- {p.name} ---\n{p.output()}" for p in procs))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def ignores(pid: int, sig: int) -> bool:
    with open(f"/proc/{pid}/status") as f:
        mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigIgn:"))
    return bool(mask >> (sig - 1) & 1)


class WorkerProc:
    def __init__(self, popen: subprocess.Popen, name: str, log: Path):
        self.popen, self.name, self.log = popen, name, log

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 15.0) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker {self.name} did not exit\n{self.output()}") from None

    def signal(self, sig) -> None:
        os.kill(self.pid, sig)


@pytest.fixture
def qname() -> str:
    # RQ's own keys (rq:wip:<queue>, ...) are not under the test prefix: a
    # unique queue name keeps them apart from other tests and processes.
    return f"rqw-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def tq(make_queue, qname):
    return make_queue(qname)


@pytest.fixture
def start_worker(redis_url, prefix, r, qname, tmp_path):
    started: list[WorkerProc] = []

    def start(*queues: str, cls: str = "TaskqWorker", burst: bool = True,
              env: dict | None = None, args: tuple = ()) -> WorkerProc:
        name = f"{qname}-{len(started)}"
        cmd = [sys.executable, "-m", "rq.cli", "worker", "-w", f"workers.rq_worker.{cls}",
               "--name", name, *(["--burst"] if burst else []), *args, *(queues or (qname,))]
        e = child_env(TASKQ_PREFIX=prefix, REDIS_URL=redis_url, PYTHONPATH=str(ROOT), **(env or {}))
        log = tmp_path / f"{name}.log"
        with open(log, "wb") as out:
            p = subprocess.Popen(cmd, cwd=ROOT, env=e, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        w = WorkerProc(p, name, log)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.popen.poll() is None:
            os.killpg(w.pid, signal.SIGKILL)
            w.popen.wait()
    for w in started:
        r.delete(f"rq:worker:{w.name}")
        r.srem("rq:workers", f"rq:worker:{w.name}")
    leftovers = list(r.scan_iter(match=f"rq:*{qname}*", count=1000))
    if leftovers:
        r.delete(*leftovers)


def k(prefix: str, name: str) -> str:
    return f"{prefix}:{name}"


def redis_now(r) -> float:
    s, us = r.time()
    return s + us / 1e6


def wait_lease_expired(r, tq, task_id: str, procs=()) -> None:
    wait_for(lambda: tq.get(task_id).lease_expires_at.timestamp() < redis_now(r) - 0.05,
             timeout=10, what="the lease to expire", procs=procs)


# -- tests ---------------------------------------------------------------------
def test_job_ids_are_valid_rq_ids_and_reversible():
    for tid in ["default:06h0knpjpthdqibmevs5jihf", "a.b-c_d:x y/é"]:
        jid = rq_job_id(tid)
        assert all(c.isascii() and (c.isalnum() or c in "-_") for c in jid)
        assert task_id_of(jid) == tid
    assert rq_job_id("default:abc") == "default_3aabc"


def test_forking_worker_runs_tasks_and_reports_them(r, raw, tq, qname, prefix, keys, redis_url,
                                                    start_worker):
    done = [tq.enqueue(f"{T}:record", k(prefix, "runs")) for _ in range(2)]
    broken = tq.enqueue(f"{T}:nope")
    w = start_worker()
    assert w.wait() == 0, w.output()
    for t in done:
        t = tq.get(t.id)
        assert (t.status, t.attempts) == ("completed", 1)
        assert t.result != w.pid  # ran in a horse, not in the worker process
    assert r.get(k(prefix, "runs")) == "2"
    b = tq.get(broken.id)
    assert (b.status, b.attempts) == ("failed", 1) and "NothingToRun" in b.error
    # RQ's keys are not a second source of truth: nothing left behind.
    assert not list(raw.scan_iter(match=f"rq:job:{qname}*"))
    assert raw.zcard(f"rq:wip:{qname}") == 0 and raw.llen(f"rq:queue:{qname}") == 0
    assert raw.zcard(f"rq:failed:{qname}") == 0
    info = WorkerRegistry(r, keys).get(w.name)
    assert (info.status, info.tasks_completed, info.tasks_failed) == ("offline", 2, 1)
    assert raw.hget(f"rq:worker:{w.name}", "successful_job_count") == b"2"
    # rq info with the taskq queue class shows taskq's counts.
    out = subprocess.run(
        [sys.executable, "-m", "rq.cli", "info", "--queue-class", "workers.rq_worker.TaskqQueue",
         "--only-queues", "--raw"], cwd=ROOT, capture_output=True, text=True, timeout=30,
        env=dict(os.environ, TASKQ_PREFIX=prefix, REDIS_URL=redis_url))
    assert f"queue {qname} 0, 0 executing, 2 finished, 1 failed" in out.stdout, out


def test_simple_worker_runs_task_in_process(r, tq, prefix, start_worker):
    t = tq.enqueue(f"{T}:record", k(prefix, "runs"), timeout=20)
    w = start_worker(cls="TaskqSimpleWorker")
    assert w.wait() == 0, w.output()
    t = tq.get(t.id)
    assert (t.status, t.result) == ("completed", w.pid)


def test_sigkilled_parent_takes_its_horse_down_and_the_task_resumes_from_checkpoint(
        r, tq, prefix, start_worker):
    r.set(k(prefix, "hang"), 1)
    t = tq.enqueue(f"{T}:checkpointed", 4, k(prefix, "hang"), k(prefix, "steps"),
                   k(prefix, "done"), k(prefix, "pid"), lease=2)
    a = start_worker(burst=False)
    horse = int(wait_for(lambda: r.get(k(prefix, "pid")), what="the task to hang", procs=[a]))
    assert horse != a.pid
    a.signal(signal.SIGKILL)  # the parent only: the horse is in its own process group
    a.popen.wait()
    wait_for(lambda: not alive(horse), timeout=5, what="the orphaned horse to die")
    assert tq.get(t.id).status == "running"
    wait_lease_expired(r, tq, t.id)
    b = start_worker()
    assert b.wait() == 0, b.output()
    t = tq.get(t.id)
    assert (t.status, t.attempts, t.result) == ("completed", 2, [0, 1, 2, 3])
    assert r.hgetall(k(prefix, "steps")) == {"0": "1", "1": "1", "2": "1", "3": "1"}
    assert r.get(k(prefix, "done")) == "1"


def test_sigkilled_worker_and_horse_task_runs_again_once(r, tq, prefix, keys, start_worker):
    keys_ = [k(prefix, n) for n in ("started", "done", "pids")]
    t = tq.enqueue(f"{T}:sleep_then_incr", 1.0, *keys_, lease=2)
    a = start_worker(burst=False)
    wait_for(lambda: r.get(keys_[0]), what="the task to start", procs=[a])
    horse = int(r.lindex(keys_[2], 0))
    os.killpg(a.pid, signal.SIGKILL)
    os.kill(horse, signal.SIGKILL)
    a.popen.wait()
    wait_lease_expired(r, tq, t.id)
    assert maintenance.tick(r, keys)["requeued"] == 1  # the scheduler's reaper
    assert tq.get(t.id).status == "queued"
    b = start_worker()
    assert b.wait() == 0, b.output()
    t = tq.get(t.id)
    assert (t.status, t.attempts) == ("completed", 2)
    assert (r.get(keys_[0]), r.get(keys_[1])) == ("2", "1")


def test_sigterm_finishes_the_current_task_then_exits(r, tq, prefix, keys, start_worker):
    keys_ = [k(prefix, n) for n in ("started", "done", "pids")]
    t1 = tq.enqueue(f"{T}:sleep_then_incr", 1.5, *keys_, lease=3)
    t2 = tq.enqueue(f"{T}:record", k(prefix, "runs"))
    w = start_worker(burst=False)
    wait_for(lambda: r.get(keys_[0]), what="the task to start", procs=[w])
    horse = int(r.lindex(keys_[2], 0))
    w.signal(signal.SIGTERM)
    os.kill(horse, signal.SIGTERM)  # a dyno stop signals every process
    assert w.wait() == 0, w.output()
    assert tq.get(t1.id).status == "completed" and r.get(keys_[1]) == "1"
    assert tq.get(t2.id).status == "queued"  # nothing new was started
    assert WorkerRegistry(r, keys).get(w.name).status == "offline"


def test_second_signal_gives_the_task_back_at_once(r, tq, prefix, start_worker):
    keys_ = [k(prefix, n) for n in ("started", "done", "pids")]
    t = tq.enqueue(f"{T}:sleep_then_incr", 30, *keys_)
    w = start_worker(burst=False)
    wait_for(lambda: r.get(keys_[0]), what="the task to start", procs=[w])
    horse = int(r.lindex(keys_[2], 0))
    w.signal(signal.SIGINT)
    time.sleep(1.2)  # RQ ignores a second signal within a second of the first
    w.signal(signal.SIGINT)
    w.wait(timeout=5)
    assert not alive(horse)
    t = tq.get(t.id)
    assert (t.status, t.attempts) == ("queued", 0)  # released: the attempt does not count
    assert r.get(keys_[1]) is None


def test_timeout_kills_the_horse_and_fails_then_retries(r, tq, prefix, start_worker):
    keys_ = [k(prefix, n) for n in ("started", "done", "pids")]
    t = tq.enqueue(f"{T}:sleep_then_incr", 30, *keys_, timeout=1, max_retries=1,
                   backoff="fixed", backoff_base=0)
    w = start_worker()
    assert w.wait(timeout=20) == 0, w.output()
    t = tq.get(t.id)
    assert (t.status, t.attempts) == ("failed", 2)
    assert "TaskTimeout: timed out after 1 s" in t.error
    assert r.get(keys_[0]) == "2" and r.get(keys_[1]) is None
    assert not any(alive(int(p)) for p in r.lrange(keys_[2], 0, -1))


def test_lost_lease_kills_the_horse_without_reporting(r, tq, prefix, start_worker):
    keys_ = [k(prefix, n) for n in ("started", "done", "pids")]
    t = tq.enqueue(f"{T}:sleep_then_incr", 30, *keys_, lease=2)
    w = start_worker()
    wait_for(lambda: r.get(keys_[0]), what="the task to start", procs=[w])
    horse = int(r.lindex(keys_[2], 0))
    w.signal(signal.SIGSTOP)  # a stalled worker: nobody renews the lease
    try:
        wait_lease_expired(r, tq, t.id)
        [thief] = tq.claim(worker="thief")  # the claim reaps and re-leases it
        thief.heartbeat(30)  # the task's own 2 s lease would otherwise lapse again
    finally:
        w.signal(signal.SIGCONT)
    assert thief.id == t.id
    wait_for(lambda: not alive(horse), timeout=5, what="the horse to be killed", procs=[w])
    assert w.wait() == 0, w.output()
    t = tq.get(t.id)
    assert "lost the lease" in w.output()
    assert (t.status, t.attempts, t.raw["token"]) == ("running", 2, thief.token)
    assert thief.complete("mine")
    assert tq.get(t.id).result == "mine" and r.get(keys_[1]) is None


def test_commands_are_refused_unless_enabled(tq, start_worker):
    t = tq.enqueue_call(meta={"command": ["echo", "hi"]})
    w = start_worker()
    assert w.wait() == 0, w.output()
    t = tq.get(t.id)
    assert (t.status, t.attempts) == ("failed", 1)
    assert "CommandsDisabled" in t.error


def test_commands_log_their_output_time_out_and_die_with_a_cancel(r, tq, start_worker):
    sleeper = [sys.executable, "-u", "-c", "import os, time; print(os.getpid()); time.sleep(60)"]
    ok = tq.enqueue_call(priority=2, meta={"command": [
        sys.executable, "-c", "print('one'); print('two')"]})
    slow = tq.enqueue_call(priority=1, timeout=2, max_retries=0, meta={"command": sleeper})
    cancelled = tq.enqueue_call(meta={"command": sleeper}, lease=3)
    w = start_worker(env={"TASKQ_ALLOW_COMMANDS": "1"})
    children = []
    try:
        wait_for(lambda: tq.logs(cancelled.id), timeout=15, what="the last command", procs=[w])
        children.append(int(tq.logs(cancelled.id)[0]["message"]))
        assert not ignores(children[0], signal.SIGTERM)  # the horse's shutdown shield stays there
        tq.cancel(cancelled.id)
        assert w.wait(timeout=20) == 0, w.output()
        assert tq.get(cancelled.id).status == "cancelled"
        wait_for(lambda: not alive(children[0]), timeout=3,
                 what="the cancelled command to be killed")
    finally:
        children += [int(x["message"]) for x in tq.logs(slow.id)[:1]]
        for pid in children:  # started by this test; gone unless it failed
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    done = tq.get(ok.id)
    assert (done.status, done.result) == ("completed", {"exit_code": 0, "output": "one\ntwo"})
    assert [x["message"] for x in tq.logs(ok.id)] == ["one", "two"]
    s = tq.get(slow.id)
    assert s.status == "failed" and "timed out after 2 s" in s.error
    child = int(tq.logs(slow.id)[0]["message"])
    wait_for(lambda: not alive(child), timeout=3, what="the command to be killed")


def test_stop_job_and_cancel_end_the_running_task_cancelled(r, raw, tq, prefix, keys,
                                                             start_worker):
    keys_ = [k(prefix, n) for n in ("started", "done", "pids")]
    t1 = tq.enqueue(f"{T}:sleep_then_incr", 30, *keys_, lease=3, priority=1)
    t2 = tq.enqueue(f"{T}:sleep_then_incr", 30, *keys_, lease=3)
    w = start_worker()
    registry = WorkerRegistry(r, keys)
    wait_for(lambda: r.get(keys_[0]) == "1", what="the first task to start", procs=[w])
    wait_for(lambda: registry.get(w.name).current_task_ids == [t1.id], what="the registry")
    assert registry.get(w.name).status == "active"

    from rq.command import send_stop_job_command
    send_stop_job_command(raw, rq_job_id(t1.id))  # RQ's stop-job: cancelled, not retried
    wait_for(lambda: r.get(keys_[0]) == "2", what="the second task to start", procs=[w])
    tq.cancel(t2.id)  # taskq's cancel: seen at the parent's next renewal
    assert w.wait() == 0, w.output()
    for t in (t1, t2):
        t = tq.get(t.id)
        assert (t.status, t.attempts) == ("cancelled", 1)
    assert r.get(keys_[1]) is None
    assert not any(alive(int(p)) for p in r.lrange(keys_[2], 0, -1))
    assert "cancel requested for" in w.output()
    info = registry.get(w.name)
    assert (info.status, info.current_task_ids) == ("offline", [])


def test_pool_worker_runs_tasks_under_rq(r, raw, tq, prefix, keys, start_worker):
    pytest.importorskip("workers.pool")
    ts = [tq.enqueue(f"{T}:record", k(prefix, "runs")) for _ in range(20)]
    w = start_worker(cls="TaskqPoolWorker", env={"TASKQ_CONCURRENCY": "4"})
    assert w.wait() == 0, w.output()
    assert {tq.get(t.id).status for t in ts} == {"completed"}
    assert {tq.get(t.id).result for t in ts} == {w.pid}  # threads of the worker process
    info = WorkerRegistry(r, keys).get(w.name)
    assert (info.kind, info.status, info.tasks_completed) == ("pool", "offline", 20)
    assert raw.hget(f"rq:worker:{w.name}", "successful_job_count") == b"20"


def test_pool_worker_warm_stop_on_sigterm(r, tq, prefix, start_worker):
    pytest.importorskip("workers.pool")
    keys_ = [k(prefix, n) for n in ("started", "done", "pids")]
    t = tq.enqueue(f"{T}:sleep_then_incr", 1.0, *keys_)
    w = start_worker(cls="TaskqPoolWorker", burst=False)
    wait_for(lambda: r.get(keys_[0]), what="the task to start", procs=[w])
    w.signal(signal.SIGTERM)
    assert w.wait() == 0, w.output()
    assert tq.get(t.id).status == "completed"


@pytest.mark.parametrize("cls", ["TaskqWorker", "TaskqSimpleWorker"])
def test_the_registry_shows_a_running_task_then_idle_with_its_count(r, tq, prefix, keys, cls,
                                                                    start_worker):
    """The registry hears of a task that runs a while without waiting for
    the regular heartbeat, and of the worker going idle as soon as it does;
    short tasks are counted without a registry write per task."""
    keys_ = [k(prefix, n) for n in ("started", "done", "pids")]
    quick = [tq.enqueue(f"{T}:record", k(prefix, "runs"), priority=1) for _ in range(5)]
    slow = tq.enqueue(f"{T}:sleep_then_incr", 3, *keys_)
    w = start_worker(cls=cls, burst=False)
    registry = WorkerRegistry(r, keys)
    wait_for(lambda: r.get(keys_[0]) == "1", what="the slow task to start", procs=[w])
    wait_for(lambda: (registry.get(w.name).current_task_ids, registry.get(w.name).status)
             == ([slow.id], "active"), timeout=2.5, what="the registry to show the task")
    wait_for(lambda: r.get(keys_[1]) == "1", what="the slow task to end", procs=[w])
    info = wait_for(lambda: (lambda i: i if i.status == "idle" else None)(registry.get(w.name)),
                    timeout=2.5, what="the registry to read idle", procs=[w])
    assert (info.current_task_ids, info.tasks_completed) == ([], 6)
    assert {tq.get(t.id).status for t in quick + [slow]} == {"completed"}
    w.signal(signal.SIGTERM)
    assert w.wait() == 0, w.output()
    assert registry.get(w.name).status == "offline"


def test_rq_work_loop_checks_ride_out_a_redis_outage(raw, qname, prefix, monkeypatch, caplog):
    """RQ's work loop checks for `rq suspend` and cleans its registries
    between jobs, outside the worker's own handlers: a connection error
    there must not end the worker (RQ's own loop would quit)."""
    import rq.worker.base as rq_base_module

    from workers.rq_worker import TaskqWorker

    w = TaskqWorker([qname], connection=raw, prefix=prefix)
    calls = []

    def suspended_check(connection, worker=None):
        calls.append(1)
        if len(calls) == 1:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return False

    monkeypatch.setattr(rq_base_module, "is_suspended", suspended_check)
    w.check_for_suspension(burst=False)
    assert len(calls) == 2  # tried again after the backoff, then went on
    assert not w.outage.down

    def cleanup():
        raise redis.ConnectionError("Error 111 connecting")

    monkeypatch.setattr(w, "clean_registries", cleanup)
    w.last_cleaned_at = None
    w.run_maintenance_tasks()  # no raise: the next round cleans


def test_an_outage_in_rqs_bookkeeping_before_a_job_does_not_fail_the_task(
        r, raw, tq, qname, prefix, redis_url, monkeypatch):
    """RQ's records of a job (its hash, status, started registry) are
    written after the claim, just before the task runs; a connection error
    there used to be reported as the task's failure, using up a retry. The
    worker waits the outage out and runs the task, once."""
    from rq.executions import Execution

    from workers.rq_worker import TaskqSimpleWorker

    t = tq.enqueue(f"{T}:record", k(prefix, "runs"), max_retries=0)
    calls = []
    create = Execution.create.__func__

    def unreachable_once(cls, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return create(cls, *args, **kwargs)

    monkeypatch.setattr(Execution, "create", classmethod(unreachable_once))
    monkeypatch.setenv("REDIS_URL", redis_url)  # the body's get_redis(): the test's Redis
    w = TaskqSimpleWorker([qname], connection=raw, prefix=prefix)
    try:
        w.work(burst=True)
    finally:
        raw.delete(w.key)
        raw.srem("rq:workers", w.key)
    got = tq.get(t.id)
    assert (got.status, got.attempts) == ("completed", 1), got.error
    assert r.get(k(prefix, "runs")) == "1" and len(calls) == 2
