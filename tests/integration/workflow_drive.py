"""Driving workflow steps by hand (no worker): claim a step's engine task
and complete or fail it, and set how long a finished workflow took."""

from __future__ import annotations

from contextlib import contextmanager
from unittest import mock

import taskq.lease
from taskq import Queue
from taskq.keys import Keys, WorkflowKeys
from taskq.workflows import WORKFLOW_QUEUE, Registry

PAY = {"namespace": "shop", "name": "pay", "version": "1.0.0", "step_templates": [
    {"name": "charge", "handler_class": "tests.integration.workflow_steps.Source"}]}
SHIP = {"namespace": "shop", "name": "ship", "version": "2.0.0", "step_templates": [
    {"name": "pack", "handler_class": "tests.integration.workflow_steps.Source"},
    {"name": "send", "handler_class": "tests.integration.workflow_steps.Source",
     "depends_on_step": "pack"}]}
AUDIT = {"namespace": "back", "name": "audit", "version": "1.0.0", "step_templates": [
    {"name": "check", "handler_class": "tests.integration.workflow_steps.Source"}]}


def registry() -> Registry:
    reg = Registry()
    for h in (PAY, SHIP, AUDIT):
        reg.register(h)
    return reg


@contextmanager
def lost_follow_ups():
    """Step changes made meanwhile leave their workflows' status to the
    sweep, as a process killed right after each change would."""
    with mock.patch.object(taskq.lease, "workflow_follow_up", lambda *a, **k: None):
        yield


def claim_step(r, prefix, wf: dict, step: str):
    """Lease exactly this step's task (others claimed meanwhile are released)."""
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    want = next(s["task_id"] for s in wf["steps"] if s["name"] == step)
    others = []
    try:
        for _ in range(200):
            got = q.claim(1)
            if not got:
                break
            if got[0].id == want:
                return got[0]
            others.append(got[0])
        raise AssertionError(f"step {step} of {wf['id']} is not ready")
    finally:
        for lease in others:
            lease.release()


def complete(r, prefix, wf: dict, *steps: str) -> None:
    for step in steps or [s["name"] for s in wf["steps"]]:
        claim_step(r, prefix, wf, step).complete({"ok": True})


def fail(r, prefix, wf: dict, step: str, retryable: bool = False) -> str:
    return claim_step(r, prefix, wf, step).fail("ValueError: card declined", retryable=retryable)


def retry_now(r, prefix, wf: dict, step: str) -> None:
    """Make a step waiting out its retry backoff due at once."""
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    tid = next(s["task_id"] for s in wf["steps"] if s["name"] == step)
    r.zadd(Keys(prefix).queue(WORKFLOW_QUEUE).delayed, {tid: 0})
    q.reap()


def set_duration(r, prefix, wf: dict, duration_ms: int) -> None:
    """Backdate a finished workflow's creation so it took ``duration_ms``
    (created to its last step's end, as the sweep measures it)."""
    qk = Keys(prefix).queue(WORKFLOW_QUEUE)
    ends = [int(r.hget(qk.task(s["task_id"]), "finished") or 0) for s in wf["steps"]]
    r.hset(WorkflowKeys(prefix).workflow(wf["id"]), "created", max(ends) - duration_ms)
