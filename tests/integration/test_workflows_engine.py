"""Workflows run by a real `taskq worker --burst`: a diamond DAG whose
results flow to its dependents, retries, a non-retryable failure, skippable
steps, custom events on completion, statuses in the document's words, and
handler discovery through Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from taskq import Queue
from taskq.keys import WorkflowKeys
from taskq.workflows import (WORKFLOW_QUEUE, HandlerNotFound, Registry, WorkflowNotFound, create,
                             get, publish, published)
from taskq.workflows.examples import load_examples

ROOT = Path(__file__).resolve().parents[2]
S = "tests.integration.workflow_steps"


def run_worker(redis_url, prefix, queue=WORKFLOW_QUEUE):
    env = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-m", "taskq.cli", "worker", "--burst", "-q", queue],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def run_until_done(r, redis_url, prefix, wid, rounds=8):
    """Run burst workers until the workflow ends: a burst worker exits while
    a retry waits out its backoff, and (only the first time a changed
    script meets a server) when its claim ran before the reloaded complete
    script that released the next steps."""
    for _ in range(rounds):
        run_worker(redis_url, prefix)
        wf = get(r, wid, prefix=prefix)
        if wf["status"] in ("complete", "error", "cancelled"):
            return wf
        time.sleep(0.5)
    return wf


def reg_with(*steps, name="flow", version="1.0.0"):
    reg = Registry()
    reg.register({"namespace": "test", "name": name, "version": version,
                  "namespace_description": "Test workflows", "step_templates": list(steps)})
    return reg


DIAMOND = [
    {"name": "source", "handler_class": f"{S}.Source"},
    {"name": "double", "handler_class": f"{S}.double", "depends_on_step": "source"},
    {"name": "add_ten", "handler_class": f"{S}.add_ten", "depends_on_step": ["source"],
     "custom_events": ["test.added", "test.audited"]},
    {"name": "join", "handler_class": f"{S}.join", "depends_on_step": ["double", "add_ten"]},
]


def test_diamond_runs_with_results_flowing_to_dependents(r, prefix, redis_url):
    reg = reg_with(*DIAMOND)
    wf = create(r, "test.flow", context={"n": 5}, inputs={"add_ten": {"plus": 100}},
                registry=reg, prefix=prefix)
    uuid.UUID(wf["id"])
    assert wf["status"] == "pending" and wf["full_name"] == "test.flow@1.0.0"
    assert wf["context"] == {"n": 5}
    assert [s["status"] for s in wf["steps"]] == ["pending"] * 4
    assert all(s["attempts"] == 0 and s["started_at"] is None for s in wf["steps"])
    # one engine task per step, in the one workflow queue, wired as the DAG
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    tasks = {s["name"]: q.get(s["task_id"]) for s in wf["steps"]}
    assert tasks["source"].status == "queued"
    assert {t.status for n, t in tasks.items() if n != "source"} == {"blocked"}
    assert sorted(tasks["join"].dependencies) == sorted([tasks["double"].id, tasks["add_ten"].id])

    wf = run_until_done(r, redis_url, prefix, wf["id"])
    steps = {s["name"]: s for s in wf["steps"]}
    assert wf["status"] == "complete", wf["steps"]
    assert steps["source"]["results"] == {"n": 5, "seen_inputs": {}}
    assert steps["double"]["results"] == {"n": 10}
    assert steps["add_ten"]["results"] == {"n": 105}
    assert steps["join"]["results"] == {"sum": 115, "deps": ["add_ten", "double"]}
    for s in steps.values():
        assert s["status"] == "complete" and s["attempts"] == 1
        assert s["started_at"] <= s["completed_at"] and s["duration_ms"] >= 0
    assert steps["source"]["completed_at"] <= steps["join"]["started_at"]

    # the declared custom events went into the queue's event stream on completion
    events = [f for _, f in r.xrange(q.qkeys.events) if f.get("event") == "custom_event"]
    assert events == [{"event": "custom_event", "id": tasks["add_ten"].id, "name": "test.added"},
                      {"event": "custom_event", "id": tasks["add_ten"].id, "name": "test.audited"}]


def test_retryable_step_fails_then_succeeds(r, prefix, redis_url):
    reg = reg_with({"name": "charge", "handler_class": f"{S}.flaky", "default_retry_limit": 2},
                   {"name": "after", "handler_class": f"{S}.after", "depends_on_step": "charge"})
    wf = create(r, "test.flow", registry=reg, prefix=prefix)
    wf = run_until_done(r, redis_url, prefix, wf["id"])
    steps = {s["name"]: s for s in wf["steps"]}
    assert wf["status"] == "complete", wf["steps"]
    assert steps["charge"]["attempts"] == 2 and steps["charge"]["results"] == {"attempt": 2}
    assert steps["after"]["results"] == {"got": {"charge": {"attempt": 2}}}


def test_non_retryable_step_fails_the_workflow_on_its_first_error(r, prefix, redis_url):
    reg = reg_with({"name": "charge", "handler_class": f"{S}.flaky",
                    "default_retryable": False, "default_retry_limit": 0},
                   {"name": "after", "handler_class": f"{S}.after", "depends_on_step": "charge"})
    wf = create(r, "test.flow", registry=reg, prefix=prefix)
    wf = run_until_done(r, redis_url, prefix, wf["id"])
    steps = {s["name"]: s for s in wf["steps"]}
    assert wf["status"] == "error"
    assert steps["charge"]["status"] == "error" and steps["charge"]["attempts"] == 1
    assert "gateway timeout" in steps["charge"]["error"]
    assert steps["after"]["status"] == "cancelled" and steps["after"]["attempts"] == 0


def test_a_retryable_step_that_keeps_failing_errors_after_its_limit(r, prefix, redis_url):
    reg = reg_with({"name": "charge", "handler_class": f"{S}.broken", "default_retry_limit": 1})
    wf = create(r, "test.flow", registry=reg, prefix=prefix)
    wf = run_until_done(r, redis_url, prefix, wf["id"])
    assert wf["status"] == "error" and wf["steps"][0]["attempts"] == 2


def test_a_failed_skippable_step_is_skipped_and_its_dependents_go_on(r, prefix, redis_url):
    reg = reg_with({"name": "source", "handler_class": f"{S}.Source"},
                   {"name": "optional", "handler_class": f"{S}.broken", "depends_on_step": "source",
                    "skippable": True, "default_retryable": False, "default_retry_limit": 0},
                   {"name": "after", "handler_class": f"{S}.after",
                    "depends_on_step": ["source", "optional"]})
    wf = create(r, "test.flow", context={"n": 1}, registry=reg, prefix=prefix)
    wf = run_until_done(r, redis_url, prefix, wf["id"])
    steps = {s["name"]: s for s in wf["steps"]}
    assert steps["optional"]["status"] == "skipped" and "card declined" in steps["optional"]["error"]
    assert steps["after"]["status"] == "complete"
    assert steps["after"]["results"] == {"got": {"source": {"n": 1, "seen_inputs": {}},
                                                 "optional": None}}
    assert wf["status"] == "complete"


def test_a_cancelled_skippable_step_is_skipped_too(r, prefix, redis_url):
    reg = reg_with({"name": "optional", "handler_class": f"{S}.Source", "skippable": True},
                   {"name": "after", "handler_class": f"{S}.after", "depends_on_step": "optional"})
    wf = create(r, "test.flow", context={"n": 1}, registry=reg, prefix=prefix)
    Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix).cancel(wf["steps"][0]["task_id"])
    wf = run_until_done(r, redis_url, prefix, wf["id"])
    assert [s["status"] for s in wf["steps"]] == ["skipped", "complete"]
    assert wf["steps"][1]["results"] == {"got": {"optional": None}}


def test_a_needed_dependency_that_failed_beside_a_skipped_one_stops_the_step(r, prefix, redis_url):
    """The dependent of a skippable step is released when that step ends;
    if its other, required dependency failed, it does not run."""
    reg = reg_with({"name": "required", "handler_class": f"{S}.broken",
                    "default_retryable": False, "default_retry_limit": 0},
                   {"name": "optional", "handler_class": f"{S}.broken", "skippable": True,
                    "default_retryable": False, "default_retry_limit": 0},
                   {"name": "after", "handler_class": f"{S}.after",
                    "depends_on_step": ["required", "optional"]},
                   {"name": "last", "handler_class": f"{S}.after", "depends_on_step": "after"})
    wf = create(r, "test.flow", registry=reg, prefix=prefix)
    wf = run_until_done(r, redis_url, prefix, wf["id"])
    assert [s["status"] for s in wf["steps"]] == ["error", "skipped", "cancelled", "cancelled"]
    assert wf["status"] == "error"


def test_a_skippable_step_whose_own_dependency_failed_does_not_let_its_dependents_run(
        r, prefix, redis_url):
    reg = reg_with({"name": "required", "handler_class": f"{S}.broken",
                    "default_retryable": False, "default_retry_limit": 0},
                   {"name": "optional", "handler_class": f"{S}.Source", "skippable": True,
                    "depends_on_step": "required"},
                   {"name": "after", "handler_class": f"{S}.after", "depends_on_step": "optional"})
    wf = create(r, "test.flow", context={"n": 1}, registry=reg, prefix=prefix)
    wf = run_until_done(r, redis_url, prefix, wf["id"])
    assert [s["status"] for s in wf["steps"]] == ["error", "cancelled", "cancelled"]
    assert wf["steps"][2]["results"] is None and wf["status"] == "error"


def test_example_process_payment_runs_end_to_end(r, prefix, redis_url):
    reg = Registry()
    load_examples(reg)
    wf = create(r, "payments.process_payment", version="2.1.0",
                context={"payment_id": 12345, "amount": 99.99, "currency": "USD",
                         "customer_id": 67890}, registry=reg, prefix=prefix)
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    assert [q.get(s["task_id"]).max_retries for s in wf["steps"]] == [0, 3, 2, 5]
    wf = run_until_done(r, redis_url, prefix, wf["id"])
    assert wf["status"] == "complete", wf["steps"]
    steps = {s["name"]: s for s in wf["steps"]}
    assert steps["validate_payment"]["results"]["valid"] is True
    assert steps["send_confirmation"]["results"]["sent_to"] == "customer-67890@example.com"
    events = [f["name"] for _, f in r.xrange(q.qkeys.events) if f.get("event") == "custom_event"]
    assert sorted(events) == ["notification.email.sent", "payment.gateway.charged"]


def test_handlers_published_in_redis_are_what_another_process_lists(r, prefix):
    reg = reg_with(*DIAMOND, version="1.0.0")
    reg.register({"namespace": "test", "name": "flow", "version": "1.2.0",
                  "step_templates": [{"name": "only", "handler_class": "not.importable.Here"}]})
    assert publish(r, reg, prefix=prefix) == 2
    seen = published(r, prefix=prefix)  # parses the JSON only: no step code imported
    assert seen.namespaces == {"test": "Test workflows"}
    assert [h.full_name for h in seen.handlers()] == ["test.flow@1.0.0", "test.flow@1.2.0"]
    assert seen.get("test", "flow", "1.0.0").steps == reg.get("test", "flow", "1.0.0").steps
    # a process without the handlers creates from what was published
    wf = create(r, "test.flow@1.0.0", context={"n": 2}, registry=Registry(), prefix=prefix)
    assert [s["name"] for s in wf["steps"]][0] == "source"
    assert r.hexists(WorkflowKeys(prefix).handlers, "test.flow@1.2.0")


def test_unknown_handler_and_workflow_are_refused(r, prefix):
    with pytest.raises(HandlerNotFound):
        create(r, "test.nothing", registry=Registry(), prefix=prefix)
    with pytest.raises(HandlerNotFound):
        create(r, "test.flow", version="9.9.9", registry=reg_with(*DIAMOND), prefix=prefix)
    with pytest.raises(WorkflowNotFound):
        get(r, str(uuid.uuid4()), prefix=prefix)
    with pytest.raises(ValueError):
        create(r, "test.flow", registry=reg_with(*DIAMOND), prefix=prefix, inputs={"ghost": {}})
    assert not r.exists(WorkflowKeys(prefix).index)


@pytest.mark.parametrize("context", [[1, 2], "text", {"x": float("nan")}, {"x": object()},
                                     {"s": "\ud800"}])
def test_bad_context_is_refused_and_creates_nothing(r, prefix, context):
    with pytest.raises(ValueError):
        create(r, "test.flow", context=context, registry=reg_with(*DIAMOND), prefix=prefix)
    assert not r.exists(WorkflowKeys(prefix).index)
    assert Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix).count() == 0


@pytest.mark.parametrize("name", ["test", "test.", ".flow", "test.flow@", "test.flow@x", ""])
def test_malformed_handler_names_are_not_found(r, prefix, name):
    with pytest.raises(HandlerNotFound):
        create(r, name, registry=reg_with(*DIAMOND), prefix=prefix)
