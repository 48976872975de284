"""TaskDriver projects and task types against the document's examples:
create, list, get, update, delete, stats; validation and access errors."""

from __future__ import annotations

import uuid

from taskq.keys import TaskDriverKeys

from apihelpers import bearer
from test_taskdriver_support import TEMPLATE, VARIABLES, login, ok, project, task, task_type

PROJECT_FIELDS = {"id", "name", "description", "instructions", "status", "createdAt", "updatedAt",
                  "config", "stats"}
STATS = {"totalTasks", "completedTasks", "failedTasks", "queuedTasks", "runningTasks"}


def test_create_matches_the_document(client, admin):
    body = {"name": "ai-analysis", "description": "AI-powered code analysis project",
            "instructions": "Follow security best practices when analyzing code...",
            "config": {"defaultMaxRetries": 3, "defaultLeaseDurationMinutes": 15, "reaperIntervalMinutes": 2}}
    resp = client.post("/api/projects", json=body, headers=admin)
    assert resp.status_code == 201
    d = resp.json["data"]
    assert set(d) == PROJECT_FIELDS and str(uuid.UUID(d["id"])) == d["id"]
    assert (d["name"], d["description"], d["instructions"], d["status"]) == (
        body["name"], body["description"], body["instructions"], "active")
    assert d["config"] == body["config"]
    assert d["stats"] == dict.fromkeys(STATS, 0)
    assert d["createdAt"].endswith("Z") and d["createdAt"] == d["updatedAt"]


def test_config_defaults_and_fractions(client, admin):
    d = ok(client.post("/api/projects", json={"name": "p1"}, headers=admin), 201)
    assert d["config"] == {"defaultMaxRetries": 3, "defaultLeaseDurationMinutes": 10,
                           "reaperIntervalMinutes": 1}
    assert d["description"] is None
    d = project(client, admin, "p2", reaperIntervalMinutes=0.05, defaultLeaseDurationMinutes=0.5)
    assert d["config"]["reaperIntervalMinutes"] == 0.05 and d["config"]["defaultLeaseDurationMinutes"] == 0.5


def test_validation_errors_in_the_document_form(client, admin):
    resp = client.post("/api/projects", json={"name": "invalid name!"}, headers=admin)
    assert resp.status_code == 422
    body = resp.json
    assert body["success"] is False and isinstance(body["error"], str)
    assert body["error"] == ("Validation failed: name: Project name can only contain letters, numbers, "
                             "hyphens, and underscores")
    assert body["validationDetails"] == [{
        "field": "name", "message": "Project name can only contain letters, numbers, hyphens, and underscores",
        "value": "invalid name!"}]
    assert body["timestamp"].endswith("Z") and body["correlationId"] == resp.headers["X-Correlation-ID"]
    for bad in ({}, {"name": ""}, {"name": "x" * 101}, {"name": "ok\n"},
                {"name": "ok", "config": {"defaultMaxRetries": -1}},
                {"name": "ok", "config": {"defaultLeaseDurationMinutes": 0}},
                {"name": "ok", "config": {"reaperIntervalMinutes": "soon"}}, {"name": "ok", "extra": 1}):
        resp = client.post("/api/projects", json=bad, headers=admin)
        assert resp.status_code == 422, bad
        assert resp.json["validationDetails"] and isinstance(resp.json["error"], str)
    resp = client.post("/api/projects", data="{nope", headers={**admin, "Content-Type": "application/json"})
    assert resp.status_code == 400 and isinstance(resp.json["error"], str)


def test_duplicate_name_is_409(client, admin):
    project(client, admin, "same")
    resp = client.post("/api/projects", json={"name": "same"}, headers=admin)
    assert resp.status_code == 409 and resp.json["error"] == "a project named 'same' already exists"


def test_list_filters_and_pages(client, admin):
    ids = [project(client, admin, f"p{i}")["id"] for i in range(5)]
    ok(client.put(f"/api/projects/{ids[1]}", json={"status": "closed"}, headers=admin))
    assert [p["id"] for p in ok(client.get("/api/projects", headers=admin))] == [ids[0]] + ids[2:]
    assert [p["id"] for p in ok(client.get("/api/projects?status=closed", headers=admin))] == [ids[1]]
    resp = client.get("/api/projects?status=all&limit=2&offset=1", headers=admin)
    assert [p["id"] for p in resp.json["data"]] == ids[1:3]
    assert resp.json["meta"] == {"total": 5, "limit": 2, "offset": 1}
    for bad in ("limit=0", "limit=101", "offset=-1", "status=open"):
        resp = client.get(f"/api/projects?{bad}", headers=admin)
        assert resp.status_code == 422 and resp.json["validationDetails"], bad


def test_get_update_delete(client, admin, r, prefix):
    p = project(client, admin)
    assert ok(client.get(f"/api/projects/{p['id']}", headers=admin)) == p
    upd = {"description": "Updated description", "instructions": "Updated instructions...",
           "status": "active", "config": {"defaultMaxRetries": 5}}
    d = ok(client.put(f"/api/projects/{p['id']}", json=upd, headers=admin))
    assert (d["description"], d["instructions"]) == ("Updated description", "Updated instructions...")
    assert d["config"] == {**p["config"], "defaultMaxRetries": 5} and d["updatedAt"] >= p["updatedAt"]
    other = project(client, admin, "other")
    resp = client.put(f"/api/projects/{p['id']}", json={"name": "other"}, headers=admin)
    assert resp.status_code == 409
    renamed = ok(client.put(f"/api/projects/{p['id']}", json={"name": "renamed"}, headers=admin))
    assert renamed["name"] == "renamed"
    assert client.post("/api/projects", json={"name": "ai-analysis"}, headers=admin).status_code == 201
    tt = task_type(client, admin, p["id"])
    task(client, admin, p["id"], tt["id"])
    gone = ok(client.delete(f"/api/projects/{p['id']}", headers=admin))
    assert gone == {"message": "Project deleted successfully"}
    for path in (f"/api/projects/{p['id']}", f"/api/task-types/{tt['id']}"):
        resp = client.get(path, headers=admin)
        assert resp.status_code == 404 and isinstance(resp.json["error"], str)
    assert not list(r.scan_iter(match=f"{prefix}:{{td-{p['id']}}}:*"))   # its tasks went with it
    assert client.get(f"/api/projects/{other['id']}", headers=admin).status_code == 200
    for path in ("/api/projects/nope", f"/api/projects/{uuid.uuid4()}"):
        assert client.get(path, headers=admin).status_code == 404
        assert client.put(path, json={}, headers=admin).status_code == 404
        assert client.delete(path, headers=admin).status_code == 404


def test_stats_from_engine_counters(client, admin, make_queue):
    p = project(client, admin)
    tt = task_type(client, admin, p["id"], duplicateHandling="allow")
    for _ in range(4):
        task(client, admin, p["id"], tt["id"])
    q = make_queue(f"td-{p['id']}")
    a, b, c = q.claim(n=3, worker="agent-a")
    a.complete({"result": "ok"})
    b.fail("boom", retryable=False)
    d = ok(client.get(f"/api/projects/{p['id']}/stats", headers=admin))
    assert d["project"]["id"] == p["id"] and d["project"]["name"] == "ai-analysis"
    assert d["project"]["stats"] == {"totalTasks": 4, "completedTasks": 1, "failedTasks": 1,
                                     "queuedTasks": 1, "runningTasks": 1}
    assert d["queueDepth"] == 1 and d["activeAgents"] == 1
    recent = d["recentActivity"]
    assert recent["tasksCompletedLastHour"] == 1 and recent["tasksFailedLastHour"] == 1
    assert recent["averageTaskDuration"] >= 0
    assert d["reaper"]["intervalMinutes"] == 1
    listed = ok(client.get(f"/api/projects/{p['id']}", headers=admin))["stats"]
    assert listed == d["project"]["stats"]


def test_task_types_crud(client, admin):
    p = project(client, admin, defaultMaxRetries=2, defaultLeaseDurationMinutes=20)
    body = {"name": "code-security-analysis", "template": TEMPLATE, "variables": list(VARIABLES),
            "duplicateHandling": "ignore", "maxRetries": 3, "leaseDurationMinutes": 30}
    tt = ok(client.post(f"/api/projects/{p['id']}/task-types", json=body, headers=admin), 201)
    assert {k: tt[k] for k in body} == body and tt["projectId"] == p["id"]
    assert ok(client.get(f"/api/task-types/{tt['id']}", headers=admin)) == tt
    plain = ok(client.post(f"/api/projects/{p['id']}/task-types", json={"name": "plain"}, headers=admin), 201)
    assert (plain["maxRetries"], plain["leaseDurationMinutes"], plain["duplicateHandling"]) == (2, 20, "allow")
    assert plain["template"] is None and plain["variables"] == []
    listed = ok(client.get(f"/api/projects/{p['id']}/task-types", headers=admin))
    assert [t["id"] for t in listed] == [tt["id"], plain["id"]]
    d = ok(client.put(f"/api/task-types/{tt['id']}", json={"template": "Updated template...", "maxRetries": 5},
                      headers=admin))
    assert (d["template"], d["maxRetries"], d["leaseDurationMinutes"]) == ("Updated template...", 5, 30)
    assert client.put(f"/api/task-types/{tt['id']}", json={"name": "plain"}, headers=admin).status_code == 409
    resp = client.post(f"/api/projects/{p['id']}/task-types", json={"name": "plain"}, headers=admin)
    assert resp.status_code == 409
    for bad in ({"name": "bad name"}, {"name": "x", "duplicateHandling": "merge"},
                {"name": "x", "variables": ["a b"]}, {"name": "x", "maxRetries": -1}, {}):
        resp = client.post(f"/api/projects/{p['id']}/task-types", json=bad, headers=admin)
        assert resp.status_code == 422 and resp.json["validationDetails"], bad
    assert ok(client.delete(f"/api/task-types/{plain['id']}", headers=admin)) == {
        "message": "Task type deleted successfully"}
    assert client.get(f"/api/task-types/{plain['id']}", headers=admin).status_code == 404
    assert client.delete(f"/api/task-types/{plain['id']}", headers=admin).status_code == 404
    assert client.post(f"/api/projects/{uuid.uuid4()}/task-types", json={"name": "x"},
                       headers=admin).status_code == 404


def test_type_with_unfinished_tasks_is_not_deleted(client, admin):
    p = project(client, admin)
    tt = task_type(client, admin, p["id"])
    t = task(client, admin, p["id"], tt["id"])
    resp = client.delete(f"/api/task-types/{tt['id']}", headers=admin)
    assert resp.status_code == 409 and "unfinished" in resp.json["error"]
    ok(client.delete(f"/api/tasks/{t['id']}", headers=admin))
    ok(client.delete(f"/api/task-types/{tt['id']}", headers=admin))


def test_scopes(client):
    admin = bearer("admin")
    p = project(client, admin)
    tt = task_type(client, admin, p["id"])
    reader, writer = bearer("projects:read", sub="r"), bearer("projects:write", sub="w")
    assert client.get("/api/projects", headers=reader).status_code == 200
    assert client.get(f"/api/task-types/{tt['id']}", headers=reader).status_code == 200
    resp = client.post("/api/projects", json={"name": "x"}, headers=reader)
    assert resp.status_code == 403 and resp.json["code"] == "insufficient_scope"
    assert client.post("/api/projects", json={"name": "x"}, headers=writer).status_code == 201
    assert client.get(f"/api/projects/{p['id']}/stats", headers=writer).status_code == 200
    assert client.get("/api/projects", headers=bearer("tasks:write", sub="t")).status_code == 403
    resp = client.get("/api/projects")
    assert resp.status_code == 401 and resp.json["error"] == "Authentication required"
    resp = client.get("/api/projects", headers={"Authorization": "Bearer tds_forged"})
    assert resp.status_code == 401 and resp.json["error"] == "Invalid or expired session"


def test_a_session_reads_its_own_project_only(client, admin):
    p, q = project(client, admin, "mine"), project(client, admin, "theirs")
    tt = task_type(client, admin, p["id"])
    s = login(client, "agent-1", p["id"])
    assert [x["id"] for x in ok(client.get("/api/projects", headers=s))] == [p["id"]]
    for path in (f"/api/projects/{p['id']}", f"/api/projects/{p['id']}/stats",
                 f"/api/projects/{p['id']}/task-types", f"/api/task-types/{tt['id']}",
                 f"/api/projects/{p['id']}/agents", f"/api/projects/{p['id']}/peek-next-task"):
        assert client.get(path, headers=s).status_code == 200, path
    denied = [("get", f"/api/projects/{q['id']}"), ("get", f"/api/projects/{q['id']}/stats"),
              ("get", f"/api/projects/{p['id']}/tasks"), ("post", "/api/projects"),
              ("put", f"/api/projects/{p['id']}"), ("delete", f"/api/projects/{p['id']}"),
              ("post", f"/api/projects/{p['id']}/task-types"), ("delete", f"/api/task-types/{tt['id']}"),
              ("post", f"/api/projects/{p['id']}/tasks"), ("post", f"/api/projects/{p['id']}/cleanup-leases"),
              ("get", "/api/tasks"), ("get", "/api/workers"), ("get", "/api/system/status")]
    for method, path in denied:
        resp = getattr(client, method)(path, json={}, headers=s)
        assert resp.status_code == 403, (method, path, resp.status_code)
        assert isinstance(resp.json["error"], str)


def test_a_name_left_by_a_half_made_project_is_taken_over(client, admin, r, prefix):
    p = project(client, admin, "orphan")
    r.delete(TaskDriverKeys(prefix).project(p["id"]))                 # as if a create died half-way
    assert project(client, admin, "orphan")["id"] != p["id"]
