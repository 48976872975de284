"""A started step's retry_limit: raised while the step runs or waits out a
retry's backoff, it decides the retries still to come (atomically, in the
retry_limit script), without touching the holder's lease; a finished step
refuses it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from taskq.errors import InvalidState, LeaseLost
from taskq.workflows import WORKFLOW_QUEUE, Registry, create, get, update_step

from test_workflows_engine import ROOT, run_until_done  # noqa: E402  (same folder)

X = "tests.integration.workflow_extra_steps"


def reg(limit: int, retryable: bool = True) -> Registry:
    r = Registry()
    r.register({"namespace": "test", "name": "gated", "version": "1.0.0", "step_templates": [
        {"name": "charge", "handler_class": f"{X}.gated_flaky", "default_retryable": retryable,
         "default_retry_limit": limit},
        {"name": "after", "handler_class": f"{X}.charge", "depends_on_step": "charge"}]})
    return r


def start_worker(redis_url, prefix):
    env = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "taskq.cli", "worker", "--burst", "-q",
                             WORKFLOW_QUEUE], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)


def run_gated(r, redis_url, prefix, wf, change):
    """Run the workflow's first attempt in a real worker, call ``change``
    while the step runs, then let the attempt fail; returns the workflow
    once it ended."""
    running, go = f"{prefix}:t:running", f"{prefix}:t:go"
    proc = start_worker(redis_url, prefix)
    try:
        assert r.blpop([running], timeout=30), "the step never started"
        change()
        r.rpush(go, "1")
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return run_until_done(r, redis_url, prefix, wf["id"])


def ctx(prefix):
    return {"running_key": f"{prefix}:t:running", "go_key": f"{prefix}:t:go", "amount": 5}


def test_retry_limit_raised_while_the_step_runs_gives_it_retries(r, prefix, redis_url):
    wf = create(r, "test.gated", context=ctx(prefix), registry=reg(0), prefix=prefix)
    seen = {}

    def raise_limit():
        seen["step"] = update_step(r, wf["id"], "charge", retry_limit=2, prefix=prefix)

    wf = run_gated(r, redis_url, prefix, wf, raise_limit)
    assert seen["step"]["status"] == "in_progress" and seen["step"]["retry_limit"] == 2
    steps = {s["name"]: s for s in wf["steps"]}
    assert wf["status"] == "complete", wf["steps"]
    assert steps["charge"]["attempts"] == 2 and steps["charge"]["results"] == {"attempt": 2}
    assert steps["after"]["results"] == {"charged": 5, "currency": "USD"}


def test_without_the_change_the_same_step_fails_the_workflow(r, prefix, redis_url):
    wf = create(r, "test.gated", context=ctx(prefix), registry=reg(0), prefix=prefix)
    wf = run_gated(r, redis_url, prefix, wf, lambda: None)
    assert wf["status"] == "error" and wf["steps"][0]["attempts"] == 1


def test_retry_limit_lowered_while_the_step_runs_stops_its_retries(r, prefix, redis_url):
    wf = create(r, "test.gated", context=ctx(prefix), registry=reg(3), prefix=prefix)
    wf = run_gated(r, redis_url, prefix, wf,
                   lambda: update_step(r, wf["id"], "charge", retry_limit=0, prefix=prefix))
    assert wf["status"] == "error" and wf["steps"][0]["attempts"] == 1
    with pytest.raises(InvalidState) as exc:  # finished: refused, unchanged
        update_step(r, wf["id"], "charge", retry_limit=5, prefix=prefix)
    assert exc.value.status == "error"
    assert get(r, wf["id"], prefix=prefix)["steps"][0]["retry_limit"] == 0


def test_retry_limit_of_a_retrying_step_and_the_lease_it_leaves_alone(r, prefix, make_queue):
    """Engine level, no worker: the holder's token still renews and fails
    the task after the change; a stale token is still refused."""
    q = make_queue("jobs")
    t = q.enqueue("app.tasks:noop", max_retries=0, backoff="fixed", backoff_base=60)
    lease = q.claim(1)[0]
    assert q.set_retry_limit(t.id, 1) == "running"
    lease.heartbeat()
    assert q.get(t.id).max_retries == 1 and q.get(t.id).raw["token"] == lease.token
    assert lease.fail("boom") == "retrying"
    with pytest.raises(LeaseLost):
        lease.heartbeat()
    assert q.set_retry_limit(t.id, 2) == "delayed"  # waiting out its backoff
    assert q.get(t.id).max_retries == 2 and q.get(t.id).status == "delayed"
    q.update(t.id, scheduled_at=None)
    second = q.claim(1)[0]
    assert second.fail("boom") == "retrying"          # 2 <= 2
    q.update(t.id, scheduled_at=None)
    assert q.claim(1)[0].fail("boom") == "failed"   # 3 > 2
    with pytest.raises(InvalidState):
        q.set_retry_limit(t.id, 5)
    assert q.get(t.id).max_retries == 2
