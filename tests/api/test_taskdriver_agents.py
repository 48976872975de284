"""TaskDriver agents: sessions, next-task (reconnect, no tasks, races),
complete / fail / extend-lease through the engine's fenced transitions,
lease expiry, the per-project reaper and cleanup-leases."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime

from apihelpers import bearer
from test_taskdriver_support import login, next_task, ok, plain_tasks, plain_type, project

from taskq.projects.store import reap_due
from workers.upkeep import Upkeep

SESSION_FIELDS = {"sessionId", "agentName", "projectId", "createdAt", "expiresAt", "lastActivity"}


def setup(client, admin, n=1, name="ai-analysis", **config):
    p = project(client, admin, name, **config)
    tt = plain_type(client, admin, p["id"])
    return p, plain_tasks(client, admin, p["id"], tt["id"], n)


def test_login_session_logout(client, admin):
    p, _ = setup(client, admin)
    resp = client.post("/api/auth/login", json={"agentName": "my-agent", "projectId": p["id"]})
    d = ok(resp)
    assert {"sessionId", "token", "expiresAt"} <= set(d) and d["token"].startswith("tds_")
    h = {"Authorization": f"Bearer {d['token']}"}
    s = ok(client.get("/api/auth/session", headers=h))
    assert set(s) == SESSION_FIELDS and (s["sessionId"], s["agentName"], s["projectId"]) == (
        d["sessionId"], "my-agent", p["id"])
    assert s["expiresAt"] == d["expiresAt"]
    longer = ok(client.put("/api/auth/session", json={"extendBy": 3600}, headers=h))
    assert longer["expiresAt"] > s["expiresAt"]
    assert client.put("/api/auth/session", json={"extendBy": 0}, headers=h).status_code == 422
    assert ok(client.get("/metrics/json"))["active_sessions"] == 1
    assert ok(client.post("/api/auth/logout", headers=h)) == {"message": "Logged out successfully"}
    resp = client.get("/api/auth/session", headers=h)
    assert resp.status_code == 401 and resp.json["error"] == "Invalid or expired session"
    assert client.get("/api/auth/session", headers=admin).status_code == 403      # not a session
    assert client.get("/api/auth/session").status_code == 401
    assert ok(client.get("/metrics/json"))["active_sessions"] == 0


def test_login_errors(client, admin):
    p, _ = setup(client, admin)
    for body in ({}, {"agentName": "a"}, {"projectId": p["id"]}, {"agentName": "a b", "projectId": p["id"]},
                 {"agentName": "a", "projectId": "nope"}):
        resp = client.post("/api/auth/login", json=body)
        assert resp.status_code == 422 and isinstance(resp.json["error"], str), body
    resp = client.post("/api/auth/login", json={"agentName": "a", "projectId": str(uuid.uuid4())})
    assert resp.status_code == 404
    ok(client.put(f"/api/projects/{p['id']}", json={"status": "closed"}, headers=admin))
    assert client.post("/api/auth/login", json={"agentName": "a", "projectId": p["id"]}).status_code == 409


def test_sessions_expire(make_app, admin):
    client = make_app(TASKQ_TASKDRIVER_SESSION_TTL="1").test_client()
    p, _ = setup(client, admin)
    h = login(client, "a", p["id"])
    assert client.get("/api/auth/session", headers=h).status_code == 200
    time.sleep(1.1)
    assert client.get("/api/auth/session", headers=h).status_code == 401


def test_login_may_need_a_credential(make_app, admin):
    client = make_app(TASKQ_TASKDRIVER_LOGIN="credential").test_client()
    p, _ = setup(client, admin)
    body = {"agentName": "a", "projectId": p["id"]}
    assert client.post("/api/auth/login", json=body).status_code == 401
    reader = bearer("projects:read", sub="r")
    assert client.post("/api/auth/login", json=body, headers=reader).status_code == 403
    assert ok(client.post("/api/auth/login", json=body, headers=bearer("agents:write", sub="runner")))["token"]


def test_next_task_reconnect_complete_and_no_tasks(client, admin):
    p, ids = setup(client, admin, n=2)
    s = login(client, "security-analysis-agent", p["id"])
    body = next_task(client, s, "security-analysis-agent", p["id"])
    assert body["success"] is True
    d = body["data"]
    t = d["task"]
    assert d["agentName"] == "security-analysis-agent" and d["id"] == t["id"] == ids[0]
    assert (t["status"], t["assignedTo"], t["projectId"]) == ("running", "security-analysis-agent", p["id"])
    assert t["assignedAt"] and t["leaseExpiresAt"] > t["assignedAt"]
    again = next_task(client, s, "security-analysis-agent")["data"]["task"]     # reconnect: the same task
    assert again["id"] == t["id"] and again["leaseExpiresAt"] == t["leaseExpiresAt"]
    agents = ok(client.get(f"/api/projects/{p['id']}/agents", headers=s))
    assert agents == [{"agentName": "security-analysis-agent", "taskId": t["id"], "assignedAt": t["assignedAt"],
                       "leaseExpiresAt": t["leaseExpiresAt"], "status": "running"}]
    assert ok(client.get(f"/api/projects/{p['id']}/peek-next-task", headers=s)) == {
        "projectId": p["id"], "tasksAvailable": 1}
    outputs = {"vulnerabilities_found": 8, "critical_count": 3, "report_url": "https://reports.example.com/1"}
    body = {"agentName": "security-analysis-agent", "result": "Found 3 critical vulnerabilities.",
            "outputs": outputs}
    done = ok(client.post(f"/api/tasks/{t['id']}/complete", json=body, headers=s))
    assert (done["status"], done["result"], done["outputs"]) == ("completed", body["result"], outputs)
    assert done["completedAt"] and done["leaseExpiresAt"] is None
    assert ok(client.post(f"/api/tasks/{t['id']}/complete", json=body, headers=s))["status"] == "completed"
    assert next_task(client, s, "security-analysis-agent")["data"]["id"] == ids[1]
    ok(client.post(f"/api/tasks/{ids[1]}/complete", json={"result": "ok"}, headers=s))
    empty = next_task(client, s, "security-analysis-agent")
    assert empty == {"success": False, "error": "No tasks available for assignment",
                     "data": {"task": None, "agentName": "security-analysis-agent"}}
    assert ok(client.get(f"/api/projects/{p['id']}/agents", headers=s)) == []


def test_agent_actions_are_fenced(client, admin):
    p, ids = setup(client, admin, n=2)
    a, b = login(client, "a", p["id"]), login(client, "b", p["id"])
    ta = next_task(client, a, "a")["data"]["id"]
    assert client.post("/api/agents/b/next-task", json={}, headers=a).status_code == 403     # not its name
    other = project(client, admin, "other")["id"]
    assert client.post("/api/agents/a/next-task", json={"projectId": other}, headers=a).status_code == 403
    resp = client.post(f"/api/tasks/{ta}/complete", json={"result": "x"}, headers=b)
    assert resp.status_code == 409 and resp.json["error"] == f"task {ta} is not leased to agent 'b'"
    assert client.post(f"/api/tasks/{ta}/fail", json={"error": "x"}, headers=b).status_code == 409
    resp = client.post(f"/api/tasks/{ta}/extend-lease", json={"extensionMinutes": 5}, headers=b)
    assert resp.status_code == 409
    queued = client.post(f"/api/tasks/{ids[1]}/complete", json={"result": "x"}, headers=a)
    assert queued.status_code == 409 and queued.json["error"].endswith("is not running (it is queued)")
    assert client.post(f"/api/tasks/td-{p['id']}:nope/complete", json={}, headers=a).status_code == 404
    # a caller with agents:write names the agent; without one it is a validation error
    runner = bearer("agents:write", sub="runner")
    assert client.post(f"/api/tasks/{ta}/complete", json={"result": "x"}, headers=runner).status_code == 422
    assert client.post(f"/api/tasks/{ta}/complete", json={"result": "x"},
                       headers=bearer("projects:write", sub="w")).status_code == 403
    assert client.post("/api/agents/c/next-task", json={}, headers=runner).status_code == 422   # projectId
    assert client.post("/api/agents/c/next-task", json={"projectId": p["id"]}, headers=runner).json["success"]
    assert ok(client.post(f"/api/tasks/{ta}/complete", json={"agentName": "a", "result": "r"},
                          headers=runner))["status"] == "completed"


def test_fail_retries_then_fails(client, admin):
    p, [tid] = setup(client, admin, defaultMaxRetries=1)
    s = login(client, "a", p["id"])
    assert next_task(client, s, "a")["data"]["id"] == tid
    d = ok(client.post(f"/api/tasks/{tid}/fail", json={"agentName": "a", "error": "Repository access denied.",
                                                        "canRetry": True}, headers=s))
    assert (d["status"], d["retryCount"], d["assignedTo"]) == ("queued", 1, None)
    assert d["error"] == "Repository access denied."
    assert next_task(client, s, "a")["data"]["id"] == tid                    # queued again at once
    d = ok(client.post(f"/api/tasks/{tid}/fail", json={"error": "again"}, headers=s))
    assert (d["status"], d["failedAt"] is not None) == ("failed", True)      # retries spent
    assert ok(client.post(f"/api/tasks/{tid}/fail", json={"error": "again"}, headers=s))["status"] == "failed"
    p2 = project(client, admin, "no-retry")
    t2 = plain_tasks(client, admin, p2["id"], plain_type(client, admin, p2["id"])["id"], 1)[0]
    s2 = login(client, "a", p2["id"])
    next_task(client, s2, "a")
    d = ok(client.post(f"/api/tasks/{t2}/fail", json={"error": "bad input", "canRetry": False}, headers=s2))
    assert d["status"] == "failed" and d["retryCount"] == 0


def test_extend_lease(client, admin):
    p, [tid] = setup(client, admin)
    s = login(client, "a", p["id"])
    before = next_task(client, s, "a")["data"]["leaseExpiresAt"]
    d = ok(client.post(f"/api/tasks/{tid}/extend-lease", json={"extensionMinutes": 30}, headers=s))
    gap = datetime.fromisoformat(d["leaseExpiresAt"].replace("Z", "+00:00")) - \
        datetime.fromisoformat(before.replace("Z", "+00:00"))
    assert abs(gap.total_seconds() - 1800) < 1
    for bad in ({}, {"extensionMinutes": 0}, {"extensionMinutes": "x"}):
        assert client.post(f"/api/tasks/{tid}/extend-lease", json=bad, headers=s).status_code == 422


def test_two_agents_racing_get_different_tasks(app, admin):
    client = app.test_client()
    p, ids = setup(client, admin, n=8)
    sessions = {f"agent-{i}": login(client, f"agent-{i}", p["id"]) for i in range(8)}
    got, barrier = {}, threading.Barrier(len(sessions))

    def pull(name):
        c = app.test_client()
        barrier.wait()
        got[name] = next_task(c, sessions[name], name)["data"]["id"]

    threads = [threading.Thread(target=pull, args=(n,)) for n in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(got.values()) == sorted(ids)                               # each task to one agent


def test_one_agent_calling_twice_at_once_holds_one_task(app, admin):
    client = app.test_client()
    p, ids = setup(client, admin, n=4)
    s = login(client, "twin", p["id"])
    got, barrier = [], threading.Barrier(4)

    def pull():
        c = app.test_client()
        barrier.wait()
        got.append(next_task(c, s, "twin")["data"]["id"])

    threads = [threading.Thread(target=pull) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(got) == 4 and len(set(got)) == 1
    assert len(ok(client.get(f"/api/projects/{p['id']}/agents", headers=s))) == 1


def test_a_vanished_agent_loses_its_lease_to_another(client, admin):
    p, [tid] = setup(client, admin, defaultLeaseDurationMinutes=0.01)       # 0.6 s leases
    a, b = login(client, "a", p["id"]), login(client, "b", p["id"])
    assert next_task(client, a, "a")["data"]["id"] == tid
    assert next_task(client, b, "b")["success"] is False                     # still held
    time.sleep(0.7)
    assert ok(client.get(f"/api/projects/{p['id']}/agents", headers=a)) == []
    assert ok(client.get(f"/api/projects/{p['id']}/peek-next-task", headers=a))["tasksAvailable"] == 1
    d = next_task(client, b, "b")["data"]
    assert (d["id"], d["assignedTo"], d["retryCount"]) == (tid, "b", 1)
    resp = client.post(f"/api/tasks/{tid}/complete", json={"result": "late"}, headers=a)
    assert resp.status_code == 409                                           # a's lease is gone
    assert ok(client.post(f"/api/tasks/{tid}/complete", json={"result": "ok"}, headers=b))["result"] == "ok"


def test_an_expired_holder_is_refused_before_any_reaping(client, admin):
    p, [tid] = setup(client, admin, defaultLeaseDurationMinutes=0.005)      # 0.3 s
    a = login(client, "a", p["id"])
    next_task(client, a, "a")
    time.sleep(0.4)
    resp = client.post(f"/api/tasks/{tid}/complete", json={"result": "late"}, headers=a)
    assert resp.status_code == 409 and resp.json["code"] == "lease_lost"


def test_the_reaper_step_honours_the_interval(client, admin, r, keys):
    # 0.3 s leases, a reaper every 1.2 s: an expired lease waits for the step at most one interval
    p, [tid] = setup(client, admin, defaultLeaseDurationMinutes=0.005, reaperIntervalMinutes=0.02)
    other, [held] = setup(client, admin, name="other", defaultLeaseDurationMinutes=10,
                          reaperIntervalMinutes=0.02)
    a = login(client, "a", p["id"])
    next_task(client, a, "a")
    next_task(client, login(client, "a", other["id"]), "a")
    time.sleep(0.4)
    assert p["id"] not in reap_due(r, keys)                                  # not due yet
    assert ok(client.get(f"/api/tasks/{tid}", headers=admin))["status"] == "running"
    time.sleep(max(0.0, 1.25 - 0.4))
    swept = reap_due(r, keys)
    assert swept[p["id"]] == {"reclaimed": 1, "agents": 1}
    assert swept[other["id"]] == {"reclaimed": 0, "agents": 0}
    d = ok(client.get(f"/api/tasks/{tid}", headers=admin))
    assert (d["status"], d["retryCount"], d["assignedTo"]) == ("queued", 1, None)
    assert ok(client.get(f"/api/tasks/{held}", headers=admin))["status"] == "running"   # a live lease stays
    assert reap_due(r, keys) == {}                                           # next run one interval on
    stats = ok(client.get(f"/api/projects/{p['id']}/stats", headers=admin))["reaper"]
    assert stats["lastRunAt"] and stats["nextRunAt"] > stats["lastRunAt"] and stats["intervalMinutes"] == 0.02


def test_the_scheduler_reclaims_within_the_interval(client, admin, r, prefix):
    p, [tid] = setup(client, admin, defaultLeaseDurationMinutes=0.005, reaperIntervalMinutes=0.02)
    next_task(client, login(client, "a", p["id"]), "a")
    time.sleep(0.4)
    assert Upkeep(r, prefix=prefix, scheduler_id="s1").tick()             # the leader's upkeep
    assert ok(client.get(f"/api/tasks/{tid}", headers=admin))["status"] == "queued"


def test_cleanup_leases(client, admin):
    p, ids = setup(client, admin, n=3, defaultLeaseDurationMinutes=0.005)
    sessions = {name: login(client, name, p["id"]) for name in ("a", "b")}
    for name, s in sessions.items():
        next_task(client, s, name)
    url = f"/api/projects/{p['id']}/cleanup-leases"
    assert ok(client.post(url, headers=admin)) == {"reclaimedTasks": 0, "cleanedAgents": 0}
    time.sleep(0.4)
    assert ok(client.post(url, headers=admin)) == {"reclaimedTasks": 2, "cleanedAgents": 2}
    stats = ok(client.get(f"/api/projects/{p['id']}/stats", headers=admin))
    assert stats["project"]["stats"]["queuedTasks"] == 3
    assert ok(client.post(url, headers=admin)) == {"reclaimedTasks": 0, "cleanedAgents": 0}
    assert client.post(url, headers=sessions["a"]).status_code == 403
    assert client.post(f"/api/projects/{uuid.uuid4()}/cleanup-leases", headers=admin).status_code == 404
