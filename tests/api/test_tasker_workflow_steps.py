"""Tasker workflow steps: list and show (a step's name is its id), PATCH
retry_limit / inputs with validation and hostile bodies, 409 once a step
cannot change, DELETE cancels and answers the step's new state."""

from __future__ import annotations

import pytest
from tasker_helpers import create, error_of, examples, wfq  # noqa: F401  (fixtures)

JSON = {"Content-Type": "application/json"}
ORDER = ["validate_payment", "charge_card", "update_order", "send_confirmation"]


@pytest.fixture
def task(client, admin, examples):
    return create(client, admin)


def _url(task, step=""):
    return f"/tasker/tasks/{task['id']}/workflow_steps" + (f"/{step}" if step else "")


def test_list_and_show_steps(client, admin, task):
    resp = client.get(_url(task), headers=admin)
    assert resp.status_code == 200 and [s["id"] for s in resp.json] == ORDER
    assert all(s["task_id"] == task["id"] for s in resp.json)
    step = client.get(_url(task, "charge_card"), headers=admin).json
    assert step == resp.json[1]
    assert (step["name"], step["status"], step["retry_limit"], step["retryable"], step["depends_on"],
            step["inputs"]) == ("charge_card", "pending", 3, True, ["validate_payment"], {})
    assert step["engine_task_id"].endswith(".charge_card")
    err = error_of(client.get(_url(task, "no_such_step"), headers=admin), 404, "STEP_NOT_FOUND")
    assert err == {"type": "StepNotFound", "code": "STEP_NOT_FOUND",
                   "message": f"Step 'no_such_step' not found in task '{task['id']}'"}


def test_patch_changes_retry_limit_and_inputs(client, admin, task, wfq):
    resp = client.patch(_url(task, "send_confirmation"), headers=admin,
                        json={"retry_limit": 5, "inputs": {"timeout": 30, "email": "a@example.com"}})
    assert resp.status_code == 200
    assert resp.json["retry_limit"] == 5 and resp.json["inputs"] == {"timeout": 30, "email": "a@example.com"}
    assert wfq.get(resp.json["engine_task_id"]).max_retries == 5
    got = client.get(_url(task, "send_confirmation"), headers=admin).json
    assert got["inputs"] == {"timeout": 30, "email": "a@example.com"} and got["retry_limit"] == 5
    only = client.patch(_url(task, "send_confirmation"), json={"retry_limit": 0}, headers=admin).json
    assert only["retry_limit"] == 0 and only["inputs"] == {"timeout": 30, "email": "a@example.com"}


@pytest.mark.parametrize("body, field", [
    ({}, "_schema"),
    ({"retry_limit": -1}, "retry_limit"),
    ({"retry_limit": 1001}, "retry_limit"),
    ({"retry_limit": 10 ** 30}, "retry_limit"),
    ({"retry_limit": 2.5}, "retry_limit"),
    ({"retry_limit": "5"}, "retry_limit"),
    ({"retry_limit": True}, "retry_limit"),
    ({"retry_limit": None}, "retry_limit"),
    ({"inputs": [1]}, "inputs"),
    ({"inputs": "x"}, "inputs"),
    ({"inputs": {"a": 1}, "priority": 1}, "priority"),
])
def test_patch_validation(client, admin, task, body, field):
    err = error_of(client.patch(_url(task, "charge_card"), json=body, headers=admin), 422, "VALIDATION_ERROR")
    assert list(err["details"]) == [field], err
    step = client.get(_url(task, "charge_card"), headers=admin).json
    assert (step["retry_limit"], step["inputs"]) == (3, {})


def test_patch_hostile_bodies(client, admin, task):
    url = _url(task, "charge_card")
    deep = '{"inputs":{"a":' + "[" * 10_000 + "]" * 10_000 + "}}"
    error_of(client.patch(url, data=deep, headers={**JSON, **admin}), 400, "INVALID_JSON")
    nested = '{"inputs":{"a":' + "[" * 80 + "]" * 80 + "}}"  # under the body limit, over a stored value's
    assert list(error_of(client.patch(url, data=nested, headers={**JSON, **admin}), 422,
                         "VALIDATION_ERROR")["details"]) == ["inputs"]
    err = error_of(client.patch(url, data='{"inputs":{"\\udfff":1}}', headers={**JSON, **admin}),
                   422, "VALIDATION_ERROR")
    assert "surrogate" in str(err["details"])
    error_of(client.patch(url, data='{"retry_limit":' + "9" * 5000 + "}", headers={**JSON, **admin}),
             400, "INVALID_JSON")
    error_of(client.patch(url, data='{"retry_limit":1e400}', headers={**JSON, **admin}), 422,
             "VALIDATION_ERROR")
    error_of(client.patch(url, data="[1]", headers={**JSON, **admin}), 422, "VALIDATION_ERROR")
    assert client.get(url, headers=admin).json["inputs"] == {}


def test_a_step_that_ran_or_finished_cannot_change(client, admin, task, wfq):
    [lease] = wfq.claim()                      # validate_payment is running: it may still change
    ok = client.patch(_url(task, "validate_payment"), json={"retry_limit": 2, "inputs": {"late": True}},
                      headers=admin)
    assert ok.status_code == 200 and (ok.json["status"], ok.json["retry_limit"], ok.json["inputs"]) == (
        "in_progress", 2, {"late": True})
    lease.complete({"valid": True})
    for body in ({"retry_limit": 1}, {"inputs": {"x": 1}}):
        err = error_of(client.patch(_url(task, "validate_payment"), json=body, headers=admin),
                       409, "STEP_FINISHED")
        assert err["type"] == "Conflict" and err["details"]["status"] == "complete"
    error_of(client.delete(_url(task, "validate_payment"), headers=admin), 409, "STEP_FINISHED")


def test_delete_cancels_and_answers_the_new_state(client, admin, task):
    resp = client.delete(_url(task, "charge_card"), headers=admin)
    assert resp.status_code == 200
    assert resp.json["id"] == "charge_card" and resp.json["status"] == "cancelled"
    steps = {s["name"]: s["status"] for s in client.get(_url(task), headers=admin).json}
    assert steps == {"validate_payment": "pending", "charge_card": "cancelled",
                     "update_order": "cancelled", "send_confirmation": "cancelled"}
    assert client.get(f"/tasker/tasks/{task['id']}", headers=admin).json["status"] == "cancelled"
    err = error_of(client.delete(_url(task, "charge_card"), headers=admin), 409, "STEP_FINISHED")
    assert err["details"]["status"] == "cancelled"


def test_delete_of_a_skippable_step_skips_it(client, admin, task):
    resp = client.delete(_url(task, "send_confirmation"), headers=admin)
    assert resp.status_code == 200 and resp.json["status"] == "skipped"
    assert client.get(_url(task, "update_order"), headers=admin).json["status"] == "pending"


def test_steps_of_an_unknown_task_are_404(client, admin, examples):
    url = "/tasker/tasks/00000000-0000-4000-8000-000000000000/workflow_steps/charge_card"
    error_of(client.patch(url, json={"retry_limit": 1}, headers=admin), 404, "TASK_NOT_FOUND")
    error_of(client.delete(url, headers=admin), 404, "TASK_NOT_FOUND")
    error_of(client.delete("/tasker/tasks/nope/workflow_steps/x", headers=admin), 404, "TASK_NOT_FOUND")
