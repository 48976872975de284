"""A final cancel of a running task: cancelled in the same call, its lease
revoked, so whatever its holder reports afterwards is refused and changes
nothing. The DTS dialect's cancel is this one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api import create_app
from api.auth import mint_token
from taskq import InvalidState, LeaseLost, TaskqValueError

ROOT = Path(__file__).resolve().parents[2]
SECRET = "force-cancel-secret-0123456789abcdef"
SLOW = "tests.workers.pool_tasks:sleep_then_incr"
INCR = "tests.workers.pool_tasks:incr"


def test_force_cancel_revokes_the_lease_of_a_running_task(q):
    t = q.enqueue("app:job", concurrency_key="acct", dedupe_key="once", max_retries=5)
    fails = q.enqueue("app:after", depends_on=[t.id])
    released = q.enqueue("app:after", depends_on=[t.id], dependency_policy="release")
    [lease] = q.claim(1, worker="w1")
    assert q.cancel(t.id, "operator said so", mode="force") == "cancelled"

    got = q.get(t.id)
    assert got.status == "cancelled" and got.error == "operator said so"
    assert q.redis.zscore(q.qkeys.running, t.id) is None
    assert q.redis.hget(q.qkeys.conc, "acct") is None          # slot given back
    assert q.redis.zrange(q.qkeys.held("w1"), 0, -1) == []      # holder index
    assert q.get(fails.id).status == "failed"
    assert q.get(released.id).status == "queued"
    assert q.enqueue("app:job", dedupe_key="once").id != t.id   # dedupe released

    # The holder learns at its next call, which changes nothing.
    for late in (lease.heartbeat, lambda: lease.extend(5), lambda: lease.checkpoint({"x": 1}),
                 lambda: lease.log("still here"), lambda: lease.complete({"late": True}),
                 lambda: lease.fail("boom"), lease.release, lease.cancelled):
        with pytest.raises(LeaseLost):
            late()
    after = q.get(t.id)
    assert after.status == "cancelled" and after.result is None and after.retries == 0
    assert after.checkpoint is None and q.log_count(t.id) == 0
    stats = q.stats()
    assert stats.get("completed", 0) == 0 and stats.get("retrying", 0) == 0
    assert q.retry(t.id) == "queued"  # an operator may still run it again


def test_force_cancel_of_tasks_that_are_not_running(q):
    queued = q.enqueue("app:job")
    assert q.cancel(queued.id, mode="force") == "cancelled"
    with pytest.raises(InvalidState):
        q.cancel(queued.id, mode="force")
    with pytest.raises(TaskqValueError):
        q.cancel(q.enqueue("app:job").id, mode="later")


def test_a_requested_cancel_can_still_be_made_final(q):
    t = q.enqueue("app:job")
    [lease] = q.claim(1)
    assert q.cancel(t.id) == "cancel_requested"
    assert lease.heartbeat() is True
    assert q.cancel(t.id, mode="force") == "cancelled"
    with pytest.raises(LeaseLost):
        lease.cancelled()
    assert q.get(t.id).status == "cancelled"


# -- over DTS, against a real worker ----------------------------------------------

@pytest.fixture
def dts_client(r, prefix):
    app = create_app({"REDIS": r, "TASKQ_PREFIX": prefix, "TASKQ_JWT_SECRET": SECRET,
                      "TASKQ_RATE_LIMIT": "100000/60"})
    token = mint_token(SECRET, "tester", ["admin"], 600)
    return app.test_client(), {"Authorization": f"Bearer {token}"}


@pytest.fixture
def worker(redis_url, prefix):
    env = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "taskq.cli", "worker", "--concurrency", "2",
                             "--lease", "60", "dts"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    yield proc
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_dts_cancel_of_a_task_a_worker_is_running_is_final_at_once(
        r, prefix, make_queue, dts_client, worker, wait_for):
    client, auth = dts_client
    dts = make_queue("dts")
    started, done = f"{prefix}:started", f"{prefix}:done"
    slow = dts.enqueue(SLOW, 1.5, started, done)
    fails = dts.enqueue(INCR, f"{prefix}:fails", depends_on=[slow.id])
    released = dts.enqueue(INCR, f"{prefix}:released", depends_on=[slow.id],
                           dependency_policy="release")
    assert wait_for(lambda: r.get(started) == "1")
    assert dts.get(slow.id).status == "running"

    resp = client.post(f"/api/tasks/{slow.id}/cancel", headers=auth)
    assert resp.status_code == 200, resp.json
    assert resp.json["data"]["status"] == "cancelled" and resp.json["data"]["id"] == slow.id
    assert resp.json["data"]["cancel_requested"] is False
    assert dts.get(slow.id).status == "cancelled"   # at once, not when the worker notices
    assert dts.get(fails.id).status == "failed"      # dependents resolved by their policy

    # The body runs to its end; the worker's report is refused; the worker goes on.
    assert wait_for(lambda: r.get(done) == "1")
    assert wait_for(lambda: r.get(f"{prefix}:released") == "1")
    assert wait_for(lambda: dts.get(released.id).status == "completed")
    time.sleep(0.3)
    after = dts.get(slow.id)
    assert after.status == "cancelled" and after.result is None and after.attempts == 1
    assert r.get(f"{prefix}:fails") is None
    events = [f for _, f in r.xrange(dts.qkeys.events) if f.get("id") == slow.id]
    assert [e["event"] for e in events] == ["created", "started", "cancelled"]
    assert dts.stats().get("completed") == 1 and worker.poll() is None
    view = client.get(f"/api/tasks/{slow.id}", headers=auth).json["data"]
    assert view["status"] == "cancelled"
