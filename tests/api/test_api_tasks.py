"""DTS tasks against the document's examples: every endpoint's happy path,
its error statuses, and the list's filters, sorting and pagination edges."""

from __future__ import annotations

import pytest
from apihelpers import EXAMPLE_TASK

from taskq import LeaseLost

TASK_FIELDS = {"id", "name", "description", "command", "status", "priority", "retry_count",
               "max_retries", "created_at", "updated_at", "scheduled_at", "started_at",
               "completed_at", "timeout_seconds", "tags", "dependencies", "worker_id", "result",
               "error", "checkpoint_data", "checkpoint_enabled"}


def create(client, headers, **fields):
    body = {"name": "t", "command": "true", **fields}
    resp = client.post("/api/tasks", json=body, headers=headers)
    assert resp.status_code == 201, resp.json
    return resp.json["data"]


def test_create_matches_the_document(client, admin):
    deps = [create(client, admin)["id"], create(client, admin)["id"]]
    resp = client.post("/api/tasks", json={**EXAMPLE_TASK, "dependencies": deps}, headers=admin)
    assert resp.status_code == 201
    body = resp.json
    assert body["success"] is True and set(body["data"]) >= TASK_FIELDS
    d = body["data"]
    assert d["status"] == "pending" and d["name"] == "Example Task"
    assert d["command"] == "echo 'Hello World'" and d["description"] == "This is an example task"
    assert (d["priority"], d["retry_count"], d["max_retries"], d["timeout_seconds"]) == (5, 0, 3, 3600)
    assert d["scheduled_at"] == "2023-06-15T12:00:00.000Z"
    assert d["tags"] == ["example", "demo"] and d["dependencies"] == deps
    assert d["checkpoint_enabled"] is True and d["checkpoint_data"] is None
    assert d["started_at"] is None and d["completed_at"] is None and d["worker_id"] is None
    assert d["created_at"].endswith("Z") and d["id"].startswith("dts:")


def test_create_defaults(client, admin):
    d = create(client, admin)
    assert (d["priority"], d["max_retries"], d["timeout_seconds"], d["checkpoint_enabled"]) == (5, 3, 3600, False)
    assert d["tags"] == [] and d["dependencies"] == [] and d["scheduled_at"] is None


def test_create_refuses_bad_bodies(client, admin):
    for body in ({"command": "x"}, {"name": "x"}, {"name": "x", "command": "y", "priority": 11},
                 {"name": "x", "command": "y", "priority": 0}, {"name": "", "command": "y"},
                 {"name": "x", "command": "y", "scheduled_at": "tomorrow"},
                 {"name": "x", "command": "y", "unknown": 1}, [1, 2]):
        resp = client.post("/api/tasks", json=body, headers=admin)
        assert resp.status_code == 422, (body, resp.json)
        assert resp.json["success"] is False and resp.json["error"]["code"] == "validation_error"
        assert resp.json["correlationId"] and resp.json["timestamp"]
    resp = client.post("/api/tasks", json={"name": "x", "command": "y", "priority": 11}, headers=admin)
    assert "priority" in resp.json["error"]["details"]["fields"]
    assert resp.json["validationDetails"][0]["field"] == "priority"


def test_unknown_dependency_is_a_validation_error(client, admin):
    resp = client.post("/api/tasks", json={"name": "x", "command": "y", "dependencies": ["dts:nope"]},
                       headers=admin)
    assert resp.status_code == 422 and resp.json["error"]["code"] == "dependency_not_found"
    resp = client.post("/api/tasks", json={"name": "x", "command": "y", "dependencies": ["nope"]},
                       headers=admin)
    assert resp.status_code == 422


def test_malformed_json_is_400(client, admin):
    resp = client.post("/api/tasks", data="{not json", headers={**admin, "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json["success"] is False
    assert "Traceback" not in resp.get_data(as_text=True)


def test_get_and_unknown_ids(client, admin):
    d = create(client, admin, name="Example Task")
    resp = client.get(f"/api/tasks/{d['id']}", headers=admin)
    assert resp.status_code == 200 and resp.json["data"] == d
    for bad in ("dts:missing", "nope", "other:missing", "%20"):
        resp = client.get(f"/api/tasks/{bad}", headers=admin)
        assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"


def test_update_changes_only_given_fields(client, admin):
    a, b, c = (create(client, admin)["id"] for _ in range(3))
    d = create(client, admin, **EXAMPLE_TASK)
    change = {"name": "Updated Task Name", "description": "Updated task description", "priority": 8,
              "max_retries": 5, "scheduled_at": "2023-06-16T12:00:00Z", "timeout_seconds": 7200,
              "tags": ["updated", "example"], "dependencies": [a, b, c]}
    resp = client.put(f"/api/tasks/{d['id']}", json=change, headers=admin)
    assert resp.status_code == 200, resp.json
    u = resp.json["data"]
    for k, v in change.items():
        assert u[k] == (v.replace("Z", ".000Z") if k == "scheduled_at" else v), k
    assert u["command"] == d["command"] and u["status"] == "pending" and u["checkpoint_enabled"] is True
    assert u["updated_at"] >= d["updated_at"]
    resp = client.put(f"/api/tasks/{d['id']}", json={"priority": 2}, headers=admin)
    assert resp.json["data"]["priority"] == 2 and resp.json["data"]["name"] == "Updated Task Name"


def test_update_errors(client, admin, dts):
    d = create(client, admin)
    assert client.put("/api/tasks/dts:nope", json={"priority": 2}, headers=admin).status_code == 404
    assert client.put(f"/api/tasks/{d['id']}", json={}, headers=admin).status_code == 422
    assert client.put(f"/api/tasks/{d['id']}", json={"priority": 99}, headers=admin).status_code == 422
    resp = client.put(f"/api/tasks/{d['id']}", json={"dependencies": [d["id"]]}, headers=admin)
    assert resp.status_code == 422 and resp.json["error"]["code"] == "cyclic_dependency"
    dts.claim()
    resp = client.put(f"/api/tasks/{d['id']}", json={"priority": 2}, headers=admin)
    assert resp.status_code == 409 and resp.json["error"]["code"] == "invalid_state"


def test_delete(client, admin, dts):
    d = create(client, admin)
    resp = client.delete(f"/api/tasks/{d['id']}", headers=admin)
    assert resp.status_code == 200
    assert resp.json["data"] == {"success": True, "message": "Task deleted successfully"}
    assert client.get(f"/api/tasks/{d['id']}", headers=admin).status_code == 404
    assert client.delete(f"/api/tasks/{d['id']}", headers=admin).status_code == 404
    running = create(client, admin)
    dts.claim()
    assert client.delete(f"/api/tasks/{running['id']}", headers=admin).status_code == 409
    assert client.delete(f"/api/tasks/{running['id']}?force=true", headers=admin).status_code == 200


def test_cancel_pending_running_and_finished(client, admin, dts):
    d = create(client, admin)
    resp = client.post(f"/api/tasks/{d['id']}/cancel", headers=admin)
    assert resp.status_code == 200
    assert resp.json["data"]["status"] == "cancelled" and resp.json["data"]["id"] == d["id"]
    assert resp.json["data"]["updated_at"].endswith("Z")
    assert client.post(f"/api/tasks/{d['id']}/cancel", headers=admin).status_code == 409
    r2 = create(client, admin)
    [lease] = dts.claim()
    resp = client.post(f"/api/tasks/{r2['id']}/cancel", headers=admin)
    assert resp.status_code == 200 and resp.json["data"]["cancel_requested"] is False
    assert resp.json["data"]["status"] == "cancelled"  # at once: the lease is revoked
    with pytest.raises(LeaseLost):
        lease.complete({"late": True})
    assert client.get(f"/api/tasks/{r2['id']}", headers=admin).json["data"]["status"] == "cancelled"
    done = create(client, admin)
    [lease] = dts.claim()
    lease.complete({"ok": True})
    resp = client.post(f"/api/tasks/{done['id']}/cancel", headers=admin)
    assert resp.status_code == 409 and resp.json["error"]["code"] == "invalid_state"
    assert client.post("/api/tasks/dts:nope/cancel", headers=admin).status_code == 404


def test_retry_failed_task(client, admin, dts):
    d = create(client, admin, max_retries=0)
    assert client.post(f"/api/tasks/{d['id']}/retry", headers=admin).status_code == 409
    [lease] = dts.claim()
    lease.fail("boom")
    got = client.get(f"/api/tasks/{d['id']}", headers=admin).json["data"]
    assert got["status"] == "failed" and got["error"] == "boom" and got["completed_at"]
    resp = client.post(f"/api/tasks/{d['id']}/retry", headers=admin)
    assert resp.status_code == 200
    assert resp.json["data"]["status"] == "pending" and resp.json["data"]["retry_count"] == 1
    assert client.post("/api/tasks/dts:nope/retry", headers=admin).status_code == 404


def test_completed_task_shows_result_worker_and_times(client, admin, dts):
    d = create(client, admin)
    [lease] = dts.claim(worker="worker-001")
    lease.complete("Task executed successfully")
    got = client.get(f"/api/tasks/{d['id']}", headers=admin).json["data"]
    assert got["status"] == "completed" and got["result"] == "Task executed successfully"
    assert got["worker_id"] == "worker-001" and got["started_at"] and got["completed_at"]


def test_a_task_that_failed_once_then_completed_shows_no_error(client, admin, dts, wait_for):
    d = create(client, admin, max_retries=2)
    [lease] = dts.claim()
    lease.fail("boom")
    assert wait_for(lambda: dts.reap() and dts.count("queued") == 1, 10)  # its backoff is over
    assert client.get(f"/api/tasks/{d['id']}", headers=admin).json["data"]["error"] == "boom"
    [lease] = dts.claim()
    lease.complete("fine")
    got = client.get(f"/api/tasks/{d['id']}", headers=admin).json["data"]
    assert (got["status"], got["result"], got["error"], got["retry_count"]) == \
        ("completed", "fine", None, 1)


def test_logs_with_level_filter_and_paging(client, admin, dts):
    d = create(client, admin)
    [lease] = dts.claim()
    lease.log_many([("info", "Task started execution"), ("info", "Processing step 1"),
                    ("error", "Error in step 2: File not found")])
    resp = client.get(f"/api/tasks/{d['id']}/logs", headers=admin)
    assert resp.status_code == 200
    assert [x["message"] for x in resp.json["data"]] == [
        "Task started execution", "Processing step 1", "Error in step 2: File not found"]
    assert resp.json["meta"] == {"limit": 100, "offset": 0, "total": 3}
    assert set(resp.json["data"][0]) == {"timestamp", "level", "message"}
    errs = client.get(f"/api/tasks/{d['id']}/logs?level=error", headers=admin).json
    assert [x["level"] for x in errs["data"]] == ["error"] and errs["meta"]["total"] == 1
    page = client.get(f"/api/tasks/{d['id']}/logs?limit=1&offset=1", headers=admin).json
    assert [x["message"] for x in page["data"]] == ["Processing step 1"] and page["meta"]["total"] == 3
    assert client.get(f"/api/tasks/{d['id']}/logs?level=loud", headers=admin).status_code == 422
    assert client.get("/api/tasks/dts:nope/logs", headers=admin).status_code == 404


CHECKPOINT = {"current_step": 3, "processed_items": 150, "last_processed_id": "item-789",
              "custom_data": {"key1": "value1", "key2": "value2"}}


def test_checkpoint_with_the_lease_token(client, admin, dts):
    from apihelpers import bearer
    writer = bearer("tasks:write")
    d = create(client, admin, checkpoint_enabled=True)
    resp = client.post(f"/api/tasks/{d['id']}/checkpoint", json={"checkpoint_data": CHECKPOINT}, headers=writer)
    assert resp.status_code == 409  # not running
    [lease] = dts.claim()
    resp = client.post(f"/api/tasks/{d['id']}/checkpoint", json={"checkpoint_data": CHECKPOINT}, headers=writer)
    assert resp.status_code == 403 and resp.json["error"]["code"] == "lease_token_required"
    resp = client.post(f"/api/tasks/{d['id']}/checkpoint",
                       json={"checkpoint_data": CHECKPOINT, "lease_token": "stale"}, headers=writer)
    assert resp.status_code == 409 and resp.json["error"]["code"] == "lease_lost"
    resp = client.post(f"/api/tasks/{d['id']}/checkpoint", json={"checkpoint_data": CHECKPOINT},
                       headers={**writer, "X-Lease-Token": lease.token})
    assert resp.status_code == 200
    assert resp.json["data"]["id"] == d["id"] and resp.json["data"]["checkpoint_data"] == CHECKPOINT
    assert resp.json["data"]["updated_at"].endswith("Z")
    assert dts.get(d["id"]).checkpoint == CHECKPOINT


def test_checkpoint_by_admin_and_refusals(client, admin, dts):
    d = create(client, admin, checkpoint_enabled=True)
    dts.claim()
    resp = client.post(f"/api/tasks/{d['id']}/checkpoint", json={"checkpoint_data": {"n": 1}}, headers=admin)
    assert resp.status_code == 200 and resp.json["data"]["checkpoint_data"] == {"n": 1}
    off = create(client, admin)
    resp = client.post(f"/api/tasks/{off['id']}/checkpoint", json={"checkpoint_data": {}}, headers=admin)
    assert resp.status_code == 409 and resp.json["error"]["code"] == "checkpoint_disabled"
    assert client.post(f"/api/tasks/{d['id']}/checkpoint", json={}, headers=admin).status_code == 422
    assert client.post("/api/tasks/dts:x/checkpoint", json={"checkpoint_data": {}}, headers=admin).status_code == 404


def test_list_filters_sorting_and_pages(client, admin, dts):
    ids = [create(client, admin, priority=p, tags=["odd"] if p % 2 else ["even"])["id"] for p in range(1, 8)]
    lst = client.get("/api/tasks", headers=admin).json
    assert lst["meta"] == {"page": 1, "limit": 20, "total": 7, "pages": 1}
    assert [t["id"] for t in lst["data"]] == ids[::-1]          # newest first by default
    asc = client.get("/api/tasks?order=asc&limit=3&page=2", headers=admin).json
    assert [t["id"] for t in asc["data"]] == ids[3:6]
    assert asc["meta"] == {"page": 2, "limit": 3, "total": 7, "pages": 3}
    by_pri = client.get("/api/tasks?sort=priority&order=desc", headers=admin).json
    assert [t["priority"] for t in by_pri["data"]] == [7, 6, 5, 4, 3, 2, 1]
    odd = client.get("/api/tasks?tag=odd&sort=priority&order=asc", headers=admin).json
    assert [t["priority"] for t in odd["data"]] == [1, 3, 5, 7]
    [lease] = dts.claim()  # highest priority: 7
    running = client.get("/api/tasks?status=running", headers=admin).json
    assert [t["priority"] for t in running["data"]] == [7] and running["meta"]["total"] == 1
    pending = client.get("/api/tasks?status=pending&sort=priority", headers=admin).json
    assert pending["meta"]["total"] == 6 and pending["data"][0]["priority"] == 6
    both = client.get("/api/tasks?status=pending&tag=odd", headers=admin).json
    assert sorted(t["priority"] for t in both["data"]) == [1, 3, 5]
    by_name = client.get("/api/tasks?sort=name&order=asc", headers=admin).json
    assert by_name["meta"]["total"] == 7


def test_pagination_edges(client, admin):
    for _ in range(3):
        create(client, admin)
    past = client.get("/api/tasks?page=5&limit=2", headers=admin).json
    assert past["data"] == [] and past["meta"] == {"page": 5, "limit": 2, "total": 3, "pages": 2}
    full = client.get("/api/tasks?limit=100", headers=admin).json
    assert len(full["data"]) == 3
    for q in ("limit=101", "limit=0", "page=0", "page=-1", "sort=colour", "order=up", "status=done",
              "limit=abc"):
        resp = client.get(f"/api/tasks?{q}", headers=admin)
        assert resp.status_code == 422, q
    empty = client.get("/api/tasks?tag=none-such", headers=admin).json
    assert empty["data"] == [] and empty["meta"]["total"] == 0 and empty["meta"]["pages"] == 0
