"""Retention (taskq.retention): per task, per queue and by default, by age
and by count; what a removed task leaves (its tombstone) and who still
reads it: dependencies, dedupe windows, waiters, workflow steps."""

from __future__ import annotations

import threading
import time

import pytest

from test_workflows_engine import S, reg_with, run_until_done

from taskq import Queue, TaskExpired, TaskqValueError, maintenance, retention
from taskq.keys import WorkflowKeys
from taskq.retention import Retention
from taskq.workflows import WORKFLOW_QUEUE, create, get
from taskq.workflows.sweep import prune as prune_workflows

NONE = Retention()


def finish(q, n: int = 1, fail: bool = False) -> list[str]:
    ids = []
    for lease in q.claim(n):
        if fail:
            lease.fail("boom", retryable=False)
        else:
            lease.complete("done")
        ids.append(lease.id)
    return ids


def visit(q) -> None:
    """The scheduler's visit of the queue (the reap script: timers, leases,
    retention ends)."""
    q.reap()


def test_a_task_of_its_own_goes_at_its_time_and_leaves_a_tombstone(q):
    now = q.enqueue("f", keep_completed=0)
    later = q.enqueue("f", keep_completed=3600)
    plain = q.enqueue("f")
    finish(q, 3)
    visit(q)
    assert q.get(now.id) is None
    assert q.removed(now.id)["status"] == "completed" and q.removed(now.id)["finished"] > 0
    assert q.get(later.id).status == "completed" and q.get(plain.id).status == "completed"
    assert q.count("completed") == 2 and q.count() == 2  # every index let go of it
    assert q.redis.exists(q.qkeys.task(now.id)) == 0


def test_a_queue_setting_applies_to_tasks_that_finish_after_it(q):
    before = q.enqueue("f")
    finish(q)
    q.set_retention(completed=0, failed=0)
    assert q.retention_settings() == Retention(completed=0, failed=0)
    done, failed = q.enqueue("f"), q.enqueue("f", max_retries=0)
    finish(q)
    finish(q, fail=True)
    visit(q)
    assert q.get(done.id) is None and q.get(failed.id) is None
    assert q.removed(failed.id)["status"] == "failed"
    assert q.get(before.id).status == "completed"  # finished before: the default's age rule
    q.set_retention(completed=None, failed=None)
    assert q.retention_settings() == NONE


def test_the_default_goes_by_age_and_a_task_of_its_own_is_kept_longer(q, keys):
    kept = q.enqueue("f", keep_completed=3600)
    plain = q.enqueue("f")
    finish(q, 2)
    time.sleep(0.02)
    assert maintenance.prune_all(q.redis, keys, ["default"], Retention(completed=0.01)) == 1
    assert q.get(plain.id) is None and q.get(kept.id).status == "completed"
    assert maintenance.prune_all(q.redis, keys, ["default"], Retention(completed=0.01)) == 0


def test_counts_keep_the_newest_of_each_outcome(q, keys):
    for _ in range(5):
        q.enqueue("f", max_retries=0)
    done = finish(q, 3)
    failed = finish(q, 2, fail=True)
    q.set_retention(completed_count=1)
    assert maintenance.prune_all(q.redis, keys, ["default"], Retention(failed_count=0)) == 4
    assert [t.id for t in q.list("completed")] == [done[-1]]
    assert q.count("failed") == 0 and q.removed(failed[0])["status"] == "failed"


def test_settings_are_checked(q):
    for bad in (-1, float("nan"), "10", True):
        with pytest.raises(TaskqValueError):
            q.enqueue("f", keep_completed=bad)
        with pytest.raises(TaskqValueError):
            q.set_retention(completed=bad)
    with pytest.raises(TaskqValueError):
        q.set_retention(completed_count=1.5)
    with pytest.raises(TaskqValueError):
        q.set_retention(kept=1)


def test_defaults_come_from_the_environment():
    assert retention.from_env({}) == Retention(retention.DEFAULT_KEEP_COMPLETED,
                                               retention.DEFAULT_KEEP_FAILED,
                                               retention.DEFAULT_KEEP_COMPLETED_COUNT,
                                               retention.DEFAULT_KEEP_FAILED_COUNT)
    env = {"TASKQ_KEEP_COMPLETED": "60", "TASKQ_KEEP_FAILED": "none",
           "TASKQ_KEEP_COMPLETED_COUNT": "100", "TASKQ_KEEP_FAILED_COUNT": ""}
    assert retention.from_env(env) == Retention(60.0, None, 100, None)
    with pytest.raises(TaskqValueError, match="TASKQ_KEEP_COMPLETED"):
        retention.from_env({"TASKQ_KEEP_COMPLETED": "soon"})


def test_a_dependent_of_a_removed_task_still_knows_how_it_ended(q, make_queue, wait_for):
    ok, bad = q.enqueue("f", keep_completed=0), q.enqueue("f", max_retries=0, keep_failed=0)
    finish(q)
    finish(q, fail=True)
    visit(q)
    assert q.get(ok.id) is None and q.get(bad.id) is None
    assert q.enqueue("f", depends_on=[ok.id]).status == "queued"
    assert q.enqueue("f", depends_on=[bad.id]).status == "failed"
    assert q.enqueue("f", depends_on=[bad.id], dependency_policy="release").status == "queued"
    other = make_queue("other")
    across = other.enqueue("f", depends_on=[ok.id])
    assert wait_for(lambda: other.get(across.id).status == "queued")


def test_a_dedupe_window_outlives_the_task_that_holds_it(q):
    first = q.enqueue("f", dedupe_key="k", dedupe_window=60, keep_completed=0)
    finish(q)
    visit(q)
    again = q.enqueue("f", dedupe_key="k", dedupe_window=60)
    assert again.id == first.id and again.status == "completed"
    assert q.count() == 0


def test_a_waiter_gets_the_result_and_then_the_task_goes(q, wait_for):
    task = q.enqueue("f", keep_completed=0)
    got = {}
    waiting = threading.Thread(target=lambda: got.setdefault("result", task.wait(10)))
    waiting.start()
    assert wait_for(lambda: q.redis.hget(q.qkeys.task(task.id), "waiters") is not None)
    finish(q)
    waiting.join(10)
    assert got["result"] == "done"
    # kept a little while someone waits (a long result is read from the task)
    assert q.redis.zscore(q.qkeys.expiry, task.id) >= int(q.get(task.id).raw["finished"]) + 10000
    q.redis.zadd(q.qkeys.expiry, {task.id: 0})  # its time has come
    visit(q)
    with pytest.raises(TaskExpired) as gone:
        task.wait(1)
    assert gone.value.status == "completed"


def test_workflow_steps_take_no_default_and_go_with_their_workflow(r, prefix, keys, redis_url):
    reg = reg_with({"name": "only", "handler_class": f"{S}.Source"})
    wf = create(r, "test.flow", context={"n": 1}, registry=reg, prefix=prefix)
    assert run_until_done(r, redis_url, prefix, wf["id"])["status"] == "complete"
    wfq = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    steps = [s["task_id"] for s in get(r, wf["id"], prefix=prefix)["steps"]]
    time.sleep(0.02)
    assert maintenance.prune_all(r, keys, [WORKFLOW_QUEUE],
                                 Retention(completed=0.001, completed_count=0)) == 0
    assert all(wfq.get(t) for t in steps)  # kept as long as their workflow
    assert prune_workflows(r, WorkflowKeys(prefix), int(time.time() * 1000) + 1000) == 1
    assert not any(wfq.get(t) for t in steps)
    assert all(wfq.removed(t)["status"] == "completed" for t in steps)


@pytest.mark.parametrize("payload", [
    {"callable": "builtins:len", "args": [[1]]},
    {"pipeline": [{"step": "echo", "args": {"message": "a"}, "name": "one"},
                  {"step": "echo", "args": {"message": "b"}, "name": "two", "depends_on": ["one"]}]},
])
def test_a_schedule_run_whose_tasks_were_removed_still_says_how_it_ended(sched, q, prefix, payload):
    from schedule_helpers import spec
    from taskq.schedules import fire_due

    q.set_retention(completed=0)
    sid = sched.create(spec(payload=payload))["id"]
    sched.redis.hset(sched.sk.schedule(sid), "due", sched.now_ms() - 10)
    sched.redis.zadd(sched.sk.due, {sid: sched.now_ms() - 10})
    fire_due(sched.redis, prefix)
    while q.count("queued") or q.count("blocked"):
        for lease in q.claim(10):
            lease.complete("ok")
    visit(q)
    assert q.count() == 0  # every task of the run is gone
    [run] = [x for x in sched.runs(sid) if x["outcome"] == "created"]
    assert run["status"] == "completed" and run["ended_at"], run


def test_a_plain_client_that_does_not_decode_reads_settings_and_tombstones(redis_url, prefix, keys):
    from redis_clients import plain_client

    plain = Queue("plain", redis=plain_client(redis_url), prefix=prefix)
    plain.set_retention(completed=5, failed_count=3)
    assert plain.retention_settings() == Retention(completed=5.0, failed_count=3)
    task = plain.enqueue("f", keep_completed=0)
    [lease] = plain.claim(1)
    lease.complete()
    plain.reap()
    assert plain.get(task.id) is None and plain.removed(task.id)["status"] == "completed"
    assert maintenance.prune_all(plain.redis, keys, ["plain"], NONE) == 0
