"""Handler payloads: each run of a schedule whose payload names a Tasker
handler is a workflow of that handler, run by a real `taskq worker --burst`,
recorded against the schedule with its status taken from the workflow's;
unknown handlers are refused at creation; dedupe, misfire and the
concurrency key apply as for task runs; delivering a run twice starts one
workflow."""

from __future__ import annotations

import time

import pytest

from taskq import Queue
from taskq.keys import WorkflowKeys
from taskq.options import InvalidField
from taskq.schedules import deliver, fire_due
from taskq.schedules.firing import workflow_run_id
from taskq.workflows import Registry, get, publish, unpublish

from schedule_helpers import HOUR, spec
from test_workflows_engine import DIAMOND, run_worker

HANDLER = {"handler": "test.flow@1.0.0", "context": {"n": 5}}


@pytest.fixture
def published(r, prefix):
    """The diamond handler as a worker publishes it: this process has no registry entry."""
    reg = Registry()
    reg.register({"namespace": "test", "name": "flow", "version": "1.0.0", "step_templates": DIAMOND})
    publish(r, reg, prefix=prefix)
    return reg


def make_due(sched, sid, ms):
    sched.redis.hset(sched.sk.schedule(sid), "due", ms)
    sched.redis.zadd(sched.sk.due, {sid: ms})


def test_a_handler_run_is_a_workflow_a_real_worker_runs(sched, published, r, prefix, redis_url):
    sid = sched.create(spec(payload=HANDLER, queue="nightly"))["id"]
    make_due(sched, sid, sched.now_ms() - 10)
    assert fire_due(r, prefix)["fired"] == 1
    (run,) = sched.get(sid)["recent_runs"]
    wid = workflow_run_id(sid, run["run"])
    assert run["workflow_id"] == wid and run["status"] == "pending" and len(run["task_ids"]) == 4
    wf = get(r, wid, prefix=prefix)
    assert wf["full_name"] == "test.flow@1.0.0" and wf["context"] == {"n": 5}
    assert wf["queue"] == "nightly"  # the schedule's queue, like its task runs
    assert Queue("nightly", redis=r, prefix=prefix).count() == 4
    for _ in range(6):
        run_worker(redis_url, prefix, queue="nightly")
        if get(r, wid, prefix=prefix)["status"] == "complete":
            break
        time.sleep(0.3)
    wf = get(r, wid, prefix=prefix)
    assert wf["status"] == "complete", wf["steps"]
    assert wf["steps"][-1]["results"]["sum"] == 5 * 2 + 5 + 10
    (run,) = sched.get(sid)["recent_runs"]
    assert run["status"] == "completed" and run["ended_at"] is not None and run["error"] is None


def test_delivering_a_handler_run_twice_starts_one_workflow(sched, published, r, prefix):
    sid = sched.create(spec(payload=HANDLER))["id"]
    from taskq.schedules.firing import fire
    reply = fire(r, sched.sk, sid, "now")
    (_, fields), = r.xrange(sched.sk.outbox)
    first = deliver(r, prefix)
    r.xadd(sched.sk.outbox, fields)
    second = deliver(r, prefix)
    assert first == second and len(first[(sid, reply[1])]) == 4
    assert r.zcard(WorkflowKeys(prefix).index) == 1
    assert Queue("default", redis=r, prefix=prefix).count() == 4


def test_an_unknown_or_malformed_handler_is_refused_at_creation(sched, published, r, prefix):
    for payload, field in [
        ({"handler": "test.nothing"}, "payload.handler"),
        ({"handler": "test.flow@9.9.9"}, "payload.handler"),
        ({"handler": "test"}, "payload.handler"),
        ({"handler": "test.flow@"}, "payload.handler"),
        ({"handler": 12}, "payload.handler"),
        ({"handler": "test.flow", "context": [1]}, "payload.context"),
        ({"handler": "test.flow", "inputs": {}}, "payload.inputs"),
        ({"handler": "test.flow", "callable": "m:f"}, "payload"),
    ]:
        with pytest.raises(InvalidField) as exc:
            sched.create(spec(payload=payload))
        assert exc.value.field == field, payload
    assert sched.list()[1] == 0
    sid = sched.create(spec(payload={"handler": "test.flow"}))["id"]  # latest version
    with pytest.raises(InvalidField) as exc:
        sched.update(sid, {"payload": {"handler": "other.flow"}})
    assert exc.value.field == "payload.handler"
    unpublish(r, ["test.flow@1.0.0"], prefix=prefix)
    with pytest.raises(InvalidField):
        sched.create(spec(payload=HANDLER))


def test_a_handler_registered_in_this_process_is_found_too(sched, r, prefix, monkeypatch):
    from taskq.workflows import engine
    local = Registry()
    local.register({"namespace": "local", "name": "only", "version": "0.1.0", "step_templates": DIAMOND[:1]})
    monkeypatch.setattr(engine, "_process", local)
    sid = sched.create(spec(payload={"handler": "local.only"}))["id"]
    out = sched.run_now(sid)
    assert out["outcome"] == "created" and len(out["task_ids"]) == 1


def test_dedupe_and_misfire_apply_to_handler_runs(sched, published, r, prefix):
    a = sched.create(spec(payload=HANDLER, dedupe_key="report", dedupe_window_seconds=300))["id"]
    assert sched.run_now(a)["outcome"] == "created"
    assert sched.run_now(a)["outcome"] == "deduplicated"
    skip = sched.create(spec(payload=HANDLER, misfire_policy="skip"))["id"]
    make_due(sched, skip, sched.now_ms() - 5 * HOUR)
    assert fire_due(r, prefix)["skipped"] == 1
    assert r.zcard(WorkflowKeys(prefix).index) == 1  # only a's first run


def test_a_concurrency_key_holds_every_step_of_handler_runs_sharing_it(sched, published, r, prefix):
    q = Queue("default", redis=r, prefix=prefix)
    a = sched.create(spec(payload=HANDLER, concurrency_key="ledger"))["id"]
    b = sched.create(spec(payload=HANDLER, concurrency_key="ledger"))["id"]
    runs = [sched.run_now(sid) for sid in (a, b)]
    assert all(run["outcome"] == "created" for run in runs)
    (lease,) = q.claim(n=10)  # two ready first steps, one key: one at a time
    assert lease.task.meta["step"] == "source"
    lease.complete({"n": 1})
    leases = q.claim(n=10)  # the next step of the same run, or the other run's first
    assert len(leases) == 1
