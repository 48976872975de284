"""Tasker tasks: create as the document shows (latest version when none is
given), Tasker's 422 body with field -> messages, unknown handlers, hostile
bodies; the list with its filters and pagination block; one task with its
steps and dependency analysis; ids that are not UUIDs."""

from __future__ import annotations

import uuid

import pytest
from tasker_helpers import PAYMENT, create, error_of, examples, wfq  # noqa: F401  (fixtures)

JSON = {"Content-Type": "application/json"}
TASK_FIELDS = ["id", "name", "namespace", "version", "full_name", "status", "context",
               "created_at", "updated_at"]


def test_create_matches_the_document(client, admin, examples, wfq):
    resp = client.post("/tasker/tasks", json=PAYMENT, headers=admin)
    assert resp.status_code == 201
    d = resp.json
    assert list(d) == TASK_FIELDS
    assert str(uuid.UUID(d["id"])) == d["id"]
    assert (d["name"], d["namespace"], d["version"], d["full_name"], d["status"]) == (
        "process_payment", "payments", "2.1.0", "payments.process_payment@2.1.0", "pending")
    assert d["context"] == PAYMENT["context"]
    assert d["created_at"].endswith("Z") and d["updated_at"] >= d["created_at"]
    assert wfq.count() == 4  # one engine task per step


def test_version_is_optional_and_means_the_latest(client, admin, examples):
    d = create(client, admin, name="refund_payment", version=None, context={"payment_id": 1, "amount": 5})
    assert d["version"] == "1.5.0"
    body = {k: v for k, v in PAYMENT.items() if k not in ("version", "context")}
    resp = client.post("/tasker/tasks", json=body, headers=admin)
    assert resp.status_code == 201 and resp.json["version"] == "2.1.0" and resp.json["context"] == {}


def test_validation_errors_in_the_documents_shape(client, admin, examples):
    resp = client.post("/tasker/tasks", json={"name": "process_payment", "version": "2.1"}, headers=admin)
    assert error_of(resp, 422, "INVALID_TASK_CONFIG") == {
        "type": "ValidationError", "message": "Invalid task configuration", "code": "INVALID_TASK_CONFIG",
        "details": {"namespace": ["must be present"], "version": ["must be a valid semantic version"]}}


@pytest.mark.parametrize("body, field", [
    ({**PAYMENT, "context": [1, 2]}, "context"),
    ({**PAYMENT, "context": "text"}, "context"),
    ({**PAYMENT, "context": None}, "context"),
    ({**PAYMENT, "name": 5}, "name"),
    ({**PAYMENT, "name": None}, "name"),
    ({**PAYMENT, "namespace": ["payments"]}, "namespace"),
    ({**PAYMENT, "version": 2.1}, "version"),
    ({**PAYMENT, "name": "Process Payment!"}, "name"),
    ({**PAYMENT, "priority": 5}, "priority"),
])
def test_wrong_types_and_unknown_fields_are_422(client, admin, examples, wfq, body, field):
    err = error_of(client.post("/tasker/tasks", json=body, headers=admin), 422, "INVALID_TASK_CONFIG")
    assert list(err["details"]) == [field] and all(isinstance(m, str) for m in err["details"][field])
    assert wfq.count() == 0


def test_a_body_that_is_not_an_object_is_refused(client, admin, examples):
    for text in ("[]", '"x"', "12", "null"):
        resp = client.post("/tasker/tasks", data=text, headers={**JSON, **admin})
        assert resp.status_code == 422, text
        assert resp.json["error"]["code"] == "INVALID_TASK_CONFIG"
    error_of(client.post("/tasker/tasks", data="{nope", headers={**JSON, **admin}), 400, "MALFORMED_REQUEST")


def test_hostile_bodies_are_4xx_never_500(client, admin, examples, wfq):
    deep = '{"name":"process_payment","namespace":"payments","context":{"a":' + "[" * 10_000 + "]" * 10_000 + "}}"
    err = error_of(client.post("/tasker/tasks", data=deep, headers={**JSON, **admin}), 400, "INVALID_JSON")
    assert "deeper" in err["message"]
    # deeper than a stored value may be, within what a body may be
    nested = '{"name":"process_payment","namespace":"payments","context":{"a":' + "[" * 80 + "]" * 80 + "}}"
    err = error_of(client.post("/tasker/tasks", data=nested, headers={**JSON, **admin}), 422,
                   "INVALID_TASK_CONFIG")
    assert list(err["details"]) == ["context"]
    surrogate = '{"name":"process_payment","namespace":"payments","context":{"who":"\\udfff"}}'
    err = error_of(client.post("/tasker/tasks", data=surrogate, headers={**JSON, **admin}), 422,
                   "VALIDATION_ERROR")
    assert err["details"] == {"context.who": ["contains a lone surrogate (not valid Unicode text)"]}
    huge_int = '{"name":"process_payment","namespace":"payments","context":{"n":' + "9" * 5000 + "}}"
    assert client.post("/tasker/tasks", data=huge_int, headers={**JSON, **admin}).status_code == 400
    for number in ("1e400", "-1e400"):
        body = '{"name":"process_payment","namespace":"payments","context":{"n":%s}}' % number
        resp = client.post("/tasker/tasks", data=body, headers={**JSON, **admin})
        assert resp.status_code == 422 and "error" in resp.json, number
    assert wfq.count() == 0
    # big exact integers are kept exactly
    d = create(client, admin, context={"payment_id": 2 ** 70 + 1, "f": 0.1, "empty": [], "obj": {}})
    got = client.get(f"/tasker/tasks/{d['id']}", headers=admin).json["context"]
    assert got == {"payment_id": 2 ** 70 + 1, "f": 0.1, "empty": [], "obj": {}}


def test_an_unknown_handler_is_404(client, admin, examples):
    err = error_of(client.post("/tasker/tasks", json={**PAYMENT, "name": "unknown_handler", "version": "1.0.0"},
                               headers=admin), 404, "HANDLER_NOT_FOUND")
    assert err["message"] == "Handler 'unknown_handler' not found in namespace 'payments' version '1.0.0'"
    err = error_of(client.post("/tasker/tasks", json={**PAYMENT, "version": "3.0.0"}, headers=admin),
                   404, "HANDLER_NOT_FOUND")
    assert err["type"] == "HandlerNotFound"


def test_list_filters_and_the_pagination_block(client, admin, examples):
    pay = [create(client, admin)["id"] for _ in range(3)]
    refund = create(client, admin, name="refund_payment", version="1.5.0",
                    context={"payment_id": 1, "amount": 3})["id"]
    resp = client.get("/tasker/tasks", headers=admin)
    assert resp.status_code == 200 and list(resp.json) == ["tasks", "pagination"]
    assert [t["id"] for t in resp.json["tasks"]] == [refund] + pay[::-1]  # newest first
    assert list(resp.json["tasks"][0]) == TASK_FIELDS
    assert resp.json["pagination"] == {"current_page": 1, "per_page": 25, "total_pages": 1, "total_count": 4}
    resp = client.get("/tasker/tasks?namespace=payments&version=2.1.0&status=pending&page=1&per_page=2",
                      headers=admin)
    assert [t["id"] for t in resp.json["tasks"]] == pay[::-1][:2]
    assert resp.json["pagination"] == {"current_page": 1, "per_page": 2, "total_pages": 2, "total_count": 3}
    resp = client.get("/tasker/tasks?version=2.1.0&page=2&per_page=2", headers=admin)
    assert [t["id"] for t in resp.json["tasks"]] == [pay[0]]
    resp = client.get("/tasker/tasks?page=9", headers=admin)
    assert resp.json["tasks"] == [] and resp.json["pagination"]["total_count"] == 4
    assert client.get("/tasker/tasks?name=refund_payment", headers=admin).json["pagination"]["total_count"] == 1
    assert client.get("/tasker/tasks?namespace=inventory", headers=admin).json["tasks"] == []
    assert client.get("/tasker/tasks?status=complete", headers=admin).json["pagination"] == {
        "current_page": 1, "per_page": 25, "total_pages": 0, "total_count": 0}


def test_per_page_above_100_is_served_as_100(client, admin, examples):
    for n in ("101", "500", "9" * 400):
        resp = client.get(f"/tasker/tasks?per_page={n}", headers=admin)
        assert resp.status_code == 200 and resp.json["pagination"]["per_page"] == 100


@pytest.mark.parametrize("query", ["page=0", "page=-1", "page=x", "per_page=0", "per_page=-5",
                                   "status=running", "version=2", "page=" + "9" * 400])
def test_bad_list_arguments_are_422(client, admin, query):
    err = error_of(client.get(f"/tasker/tasks?{query}", headers=admin), 422, "VALIDATION_ERROR")
    assert list(err["details"]) == [query.partition("=")[0]]


def test_one_task_with_its_steps_and_dependencies(client, admin, examples, wfq):
    d = create(client, admin)
    got = client.get(f"/tasker/tasks/{d['id']}", headers=admin).json
    assert list(got) == TASK_FIELDS + ["steps"]
    assert {k: got[k] for k in TASK_FIELDS} == d | {"updated_at": got["updated_at"]}
    assert [s["name"] for s in got["steps"]] == ["validate_payment", "charge_card", "update_order",
                                                 "send_confirmation"]
    for s in got["steps"]:
        assert {"name", "status", "results", "attempts", "started_at", "completed_at"} <= set(s)
        assert (s["status"], s["results"], s["attempts"], s["started_at"], s["completed_at"]) == (
            "pending", None, 0, None, None)
    assert "dependencies" not in got
    # the first step runs and completes: the next one is ready
    [lease] = wfq.claim()
    lease.complete({"valid": True, "validation_id": "val_123"})
    got = client.get(f"/tasker/tasks/{d['id']}?include_dependencies=true", headers=admin).json
    assert got["status"] == "in_progress"
    first = got["steps"][0]
    assert (first["status"], first["results"], first["attempts"]) == (
        "complete", {"valid": True, "validation_id": "val_123"}, 1)
    assert first["started_at"] <= first["completed_at"]
    assert got["dependencies"] == {"analysis": "Task is progressing normally through dependency chain",
                                   "blocked_steps": ["update_order", "send_confirmation"],
                                   "ready_steps": ["charge_card"], "completed_steps": ["validate_payment"]}
    assert list(got) == TASK_FIELDS + ["steps", "dependencies"]
    error_of(client.get(f"/tasker/tasks/{d['id']}?include_dependencies=maybe", headers=admin),
             422, "VALIDATION_ERROR")


@pytest.mark.parametrize("task_id", ["not-a-uuid", "550e8400", "x" * 2000, "..%2E", "%00",
                                     "{550e8400-e29b-41d4-a716-446655440000}", "6f1c2a3e-0b4d-4c5e-9f7a-8b9c0d1e2f3a"])
def test_unknown_or_malformed_ids_are_404(client, admin, task_id):
    for url in (f"/tasker/tasks/{task_id}", f"/tasker/tasks/{task_id}/workflow_steps",
                f"/tasker/tasks/{task_id}/workflow_steps/charge_card"):
        err = error_of(client.get(url, headers=admin), 404, "TASK_NOT_FOUND")
        assert err["type"] == "TaskNotFound"


def test_a_path_no_route_matches_is_404_in_taskers_shape(client, admin):
    error_of(client.get("/tasker/tasks/..%2F..%2Fetc", headers=admin), 404, "NOT_FOUND")
    error_of(client.get("/tasker/nothing", headers=admin), 404, "NOT_FOUND")
    assert error_of(client.put("/tasker/tasks", headers=admin), 405, "METHOD_NOT_ALLOWED")["type"] == \
        "MethodNotAllowed"
