"""TaskDriver tasks: create from a type's template, bulk create in one round
trip, duplicate handling, list filters, and /api/tasks/{id} answering the
union of both dialects' fields."""

from __future__ import annotations

import uuid

from apihelpers import bearer
from test_taskdriver_support import (VARIABLES, login, next_task, ok, plain_tasks, plain_type,
                                     project, task, task_type)

import taskq.queue

TD_FIELDS = {"id", "projectId", "typeId", "instructions", "variables", "status", "assignedTo", "assignedAt",
             "leaseExpiresAt", "createdAt", "batchId", "result", "outputs", "error", "retryCount"}
DTS_FIELDS = {"id", "name", "description", "command", "status", "priority", "retry_count", "max_retries",
              "created_at", "updated_at", "scheduled_at", "started_at", "completed_at", "timeout_seconds",
              "tags", "dependencies", "worker_id", "result", "error", "checkpoint_data", "checkpoint_enabled"}


def test_create_renders_the_template(client, admin, make_queue):
    p = project(client, admin, defaultMaxRetries=2, defaultLeaseDurationMinutes=7)
    tt = task_type(client, admin, p["id"])
    body = {"typeId": tt["id"], "instructions": "Analyze security vulnerabilities in authentication system",
            "variables": VARIABLES, "batchId": "batch-security-audit-2024"}
    d = ok(client.post(f"/api/projects/{p['id']}/tasks", json=body, headers=admin), 201)
    assert set(d) >= TD_FIELDS
    assert d["instructions"] == ("Analyze https://github.com/company/webapp for security vulnerabilities "
                                 "focusing on authentication,authorization,input-validation")
    assert (d["projectId"], d["typeId"], d["variables"], d["batchId"]) == (
        p["id"], tt["id"], VARIABLES, "batch-security-audit-2024")
    assert (d["status"], d["assignedTo"], d["retryCount"], d["maxRetries"]) == ("queued", None, 0, 2)
    engine = make_queue(f"td-{p['id']}").get(d["id"])
    assert engine.max_retries == 2 and engine.lease_seconds == 7 * 60   # the project's defaults govern
    tt2 = task_type(client, admin, p["id"], name="strict", maxRetries=5, leaseDurationMinutes=0.5)
    engine = make_queue(f"td-{p['id']}").get(task(client, admin, p["id"], tt2["id"])["id"])
    assert engine.max_retries == 5 and engine.lease_seconds == 30         # the type's override


def test_a_type_without_template_takes_the_instructions(client, admin):
    p = project(client, admin)
    tt = plain_type(client, admin, p["id"], variables=["module"])
    d = task(client, admin, p["id"], tt["id"], instructions="Analyze module {{module}}",
             variables={"module": "authentication"})
    assert d["instructions"] == "Analyze module authentication"
    resp = client.post(f"/api/projects/{p['id']}/tasks",
                       json={"typeId": tt["id"], "variables": {"module": "x"}}, headers=admin)
    assert resp.status_code == 422 and resp.json["validationDetails"][0]["field"] == "instructions"


def test_create_errors(client, admin):
    p = project(client, admin)
    tt = task_type(client, admin, p["id"])
    url = f"/api/projects/{p['id']}/tasks"
    resp = client.post(url, json={"typeId": tt["id"], "variables": {"repository_url": "x"}}, headers=admin)
    assert resp.status_code == 422
    assert resp.json["validationDetails"] == [
        {"field": "variables.security_aspects", "message": "required by the task type", "value": None}]
    assert resp.json["error"].startswith("Validation failed: variables.security_aspects")
    other = task_type(client, admin, project(client, admin, "other")["id"])
    for body in ({"typeId": other["id"], "variables": VARIABLES}, {"typeId": "not-a-uuid"}, {},
                 {"typeId": tt["id"], "variables": {**VARIABLES, "x": {"nested": 1}}},
                 {"typeId": tt["id"], "variables": VARIABLES, "batchId": ""}):
        resp = client.post(url, json=body, headers=admin)
        assert resp.status_code == 422 and resp.json["validationDetails"], body
    ok(client.put(f"/api/projects/{p['id']}", json={"status": "closed"}, headers=admin))
    resp = client.post(url, json={"typeId": tt["id"], "variables": VARIABLES}, headers=admin)
    assert resp.status_code == 409 and "closed" in resp.json["error"]
    assert client.post(f"/api/projects/{uuid.uuid4()}/tasks", json={"typeId": tt["id"]},
                       headers=admin).status_code == 404


def test_duplicate_handling(client, admin, make_queue):
    p = project(client, admin)
    ignore = task_type(client, admin, p["id"], duplicateHandling="ignore")
    fail = task_type(client, admin, p["id"], name="fail", duplicateHandling="fail")
    allow = task_type(client, admin, p["id"], name="allow", duplicateHandling="allow")
    first = task(client, admin, p["id"], ignore["id"])
    assert task(client, admin, p["id"], ignore["id"], status=200)["id"] == first["id"]
    other = task(client, admin, p["id"], ignore["id"], variables={**VARIABLES, "security_aspects": "xss"})
    assert other["id"] != first["id"]
    f = task(client, admin, p["id"], fail["id"])
    resp = client.post(f"/api/projects/{p['id']}/tasks", json={"typeId": fail["id"], "variables": VARIABLES},
                       headers=admin)
    assert resp.status_code == 409 and f["id"] in resp.json["error"]
    assert task(client, admin, p["id"], allow["id"])["id"] != task(client, admin, p["id"], allow["id"])["id"]
    # a finished task no longer counts as a duplicate
    q = make_queue(f"td-{p['id']}")
    while (leases := q.claim(n=10, worker="w")):
        for lease in leases:
            lease.complete({"result": "done"})
    assert task(client, admin, p["id"], fail["id"])["id"] != f["id"]


def test_bulk_is_one_round_trip_and_all_or_nothing(client, admin, monkeypatch):
    p = project(client, admin)
    tt = task_type(client, admin, p["id"], duplicateHandling="ignore")
    calls = []
    real = taskq.queue.Queue.enqueue_specs
    monkeypatch.setattr(taskq.queue.Queue, "enqueue_specs",
                        lambda self, specs: calls.append(len(specs)) or real(self, specs))
    items = [{"typeId": tt["id"], "instructions": f"Analyze module {m}",
              "variables": {**VARIABLES, "security_aspects": m}} for m in ("authentication", "authorization")]
    url = f"/api/projects/{p['id']}/tasks/bulk"
    d = ok(client.post(url, json={"tasks": items, "batchId": "batch-security-audit-2024"}, headers=admin), 201)
    assert calls == [2]
    assert (d["batchId"], d["tasksCreated"], d["duplicatesSkipped"], d["errors"]) == (
        "batch-security-audit-2024", 2, 0, [])
    assert [t["batchId"] for t in d["tasks"]] == ["batch-security-audit-2024"] * 2
    assert d["tasks"][1]["instructions"].endswith("focusing on authorization")
    again = ok(client.post(url, json={"tasks": items + [items[0]]}, headers=admin), 201)
    assert (again["tasksCreated"], again["duplicatesSkipped"]) == (0, 3) and again["batchId"]
    bad = items + [{"typeId": tt["id"], "variables": {"repository_url": "x"}}]
    resp = client.post(url, json={"tasks": bad}, headers=admin)
    assert resp.status_code == 422
    assert resp.json["validationDetails"][0]["field"] == "tasks.2.variables.security_aspects"
    for body in ({"tasks": []}, {"tasks": [{}]}, {}, {"tasks": [{"typeId": tt["id"]}] * 1001}):
        assert client.post(url, json=body, headers=admin).status_code == 422
    assert len(calls) == 2
    fail = task_type(client, admin, p["id"], name="fail", duplicateHandling="fail")
    dup = [{"typeId": fail["id"], "variables": VARIABLES}] * 2
    resp = client.post(url, json={"tasks": dup}, headers=admin)
    assert resp.status_code == 409 and "tasks.1 duplicates tasks.0" in resp.json["error"]
    stats = ok(client.get(f"/api/projects/{p['id']}/stats", headers=admin))["project"]["stats"]
    assert stats["totalTasks"] == 2


def test_list_filters(client, admin):
    p = project(client, admin)
    a, b = plain_type(client, admin, p["id"], "a"), plain_type(client, admin, p["id"], "b")
    ids_a = plain_tasks(client, admin, p["id"], a["id"], 3, batchId="one")
    ids_b = plain_tasks(client, admin, p["id"], b["id"], 2, batchId="two")
    s = login(client, "agent-1", p["id"])
    held = next_task(client, s, "agent-1")["data"]["id"]
    url = f"/api/projects/{p['id']}/tasks"

    def ids(query=""):
        resp = client.get(f"{url}?{query}", headers=admin)
        assert resp.status_code == 200, resp.json
        return [t["id"] for t in resp.json["data"]]

    every = ids_a + ids_b
    assert ids() == every[::-1]                                   # newest first
    assert ids("typeId=" + a["id"]) == ids_a[::-1] and ids("batchId=two") == ids_b[::-1]
    assert ids("status=running") == [held] and ids("assignedTo=agent-1") == [held]
    assert ids("status=queued") == [x for x in every[::-1] if x != held]
    assert ids("status=completed") == [] and ids("assignedTo=nobody") == []
    assert ids(f"typeId={b['id']}&batchId=one") == []
    assert ids("limit=2&offset=1") == every[::-1][1:3]
    assert ids("status=queued&limit=1&offset=1") == [x for x in every[::-1] if x != held][1:2]
    resp = client.get(f"{url}?status=queued&limit=2", headers=admin)
    assert resp.json["meta"] == {"total": 4, "limit": 2, "offset": 0}
    for bad in ("limit=0", "limit=1001", "status=pending", "offset=-1"):
        assert client.get(f"{url}?{bad}", headers=admin).status_code == 422, bad


def test_the_shared_route_answers_both_dialects(client, admin, dts):
    p = project(client, admin)
    tt = task_type(client, admin, p["id"])
    t = task(client, admin, p["id"], tt["id"], batchId="b")
    d = ok(client.get(f"/api/tasks/{t['id']}", headers=admin))
    assert set(d) >= TD_FIELDS | DTS_FIELDS
    assert d["status"] == "queued" and d["name"] == "code-security-analysis" and d["retry_count"] == 0
    assert {k: d[k] for k in TD_FIELDS} == {k: t[k] for k in TD_FIELDS}
    plain = ok(client.post("/api/tasks", json={"name": "x", "command": "true"}, headers=admin), 201)
    d = ok(client.get(f"/api/tasks/{plain['id']}", headers=admin))
    assert set(d) >= TD_FIELDS | DTS_FIELDS and d["status"] == "pending" and d["projectId"] is None
    # projects:read reads a project's task; not a DTS task
    reader = bearer("projects:read", sub="r")
    assert client.get(f"/api/tasks/{t['id']}", headers=reader).status_code == 200
    assert client.get(f"/api/tasks/{plain['id']}", headers=reader).status_code == 403
    resp = client.get(f"/api/tasks/td-{p['id']}:missing", headers=admin)
    assert resp.status_code == 404 and isinstance(resp.json["error"], str)     # TaskDriver's error body
    assert client.get("/api/tasks/dts:missing", headers=admin).json["error"]["code"] == "not_found"


def test_update_and_delete_through_the_shared_route(client, admin):
    p = project(client, admin)
    tt = task_type(client, admin, p["id"])
    t = task(client, admin, p["id"], tt["id"])
    url = f"/api/tasks/{t['id']}"
    d = ok(client.put(url, json={"variables": {"security_aspects": "xss"}}, headers=admin))
    assert d["variables"] == {**VARIABLES, "security_aspects": "xss"}
    assert d["instructions"].endswith("focusing on xss")
    change = {"instructions": "Updated instructions...", "variables": {"updated_variable": "new_value"},
              "priority": 7}
    d = ok(client.put(url, json=change, headers=admin))
    assert d["instructions"] == "Updated instructions..." and d["variables"]["updated_variable"] == "new_value"
    assert d["priority"] == 7
    resp = client.put(url, json={"variables": {"repository_url": None}}, headers=admin)
    assert resp.status_code == 422 and resp.json["validationDetails"][0]["field"] == "variables.repository_url"
    plain = ok(client.post("/api/tasks", json={"name": "x", "command": "true"}, headers=admin), 201)
    assert client.put(f"/api/tasks/{plain['id']}", json={"instructions": "x"}, headers=admin).status_code == 409
    s = login(client, "agent-1", p["id"])
    next_task(client, s, "agent-1")
    resp = client.put(url, json={"instructions": "late"}, headers=admin)
    assert resp.status_code == 409 and isinstance(resp.json["error"], str)
    assert client.delete(url, headers=admin).status_code == 409                # running
    assert client.put(url, json={"instructions": "x"}, headers=s).status_code == 403
    assert client.get(url, headers=s).status_code == 403
    ok(client.delete(url + "?force=true", headers=bearer("projects:write", sub="w")))
    assert client.get(url, headers=admin).status_code == 404
