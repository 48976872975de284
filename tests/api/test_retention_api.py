"""A task that retention removed answers 404 with the code task_expired (not
not_found) and says how it ended, in the dialect's error style."""

from __future__ import annotations

import sys
from pathlib import Path


def test_a_removed_task_answers_404_task_expired(client, admin, dts):
    resp = client.post("/api/tasks", json={"name": "t", "command": "true"}, headers=admin)
    tid = resp.json["data"]["id"]
    dts.set_retention(completed=0)
    [lease] = dts.claim(1)
    lease.complete("ok")
    dts.reap()  # the scheduler's visit: its retention has ended
    resp = client.get(f"/api/tasks/{tid}", headers=admin)
    assert resp.status_code == 404
    assert resp.json["success"] is False
    assert resp.json["error"]["code"] == "task_expired", resp.json
    assert "completed and was removed by retention" in resp.json["error"]["message"]
    never = client.get(f"/api/tasks/{dts.name}:00000000000000000000000v", headers=admin)
    assert never.status_code == 404 and never.json["error"]["code"] == "not_found"


def test_the_dashboard_says_a_removed_task_expired(client, q):
    from dashboard_client import login
    login(client, "dashboard")
    task = q.enqueue("app:job", keep_completed=0)
    [lease] = q.claim(1)
    lease.complete()
    q.reap()
    page = client.get(f"/dashboard/tasks/{task.id}")
    assert page.status_code == 404 and "task_expired" in page.get_data(as_text=True)
    data = client.get(f"/dashboard/data/tasks/{task.id}")
    assert data.status_code == 404 and data.get_json()["error"]["code"] == "task_expired"
    assert "completed and was removed by retention" in data.get_json()["error"]["message"]


def test_tasker_says_a_workflow_removed_by_retention_expired(client, admin, r, prefix, redis_url):
    import time

    from tasker_helpers import error_of
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
    from test_workflows_engine import S, reg_with, run_until_done

    from taskq.keys import WorkflowKeys
    from taskq.workflows import create
    from taskq.workflows.sweep import prune

    reg = reg_with({"name": "only", "handler_class": f"{S}.Source"})
    wf = create(r, "test.flow", context={"n": 1}, registry=reg, prefix=prefix)
    assert run_until_done(r, redis_url, prefix, wf["id"])["status"] == "complete"
    assert client.get(f"/tasker/tasks/{wf['id']}", headers=admin).status_code == 200
    assert prune(r, WorkflowKeys(prefix), int(time.time() * 1000) + 1000) == 1
    err = error_of(client.get(f"/tasker/tasks/{wf['id']}", headers=admin), 404, "TASK_EXPIRED")
    assert "(complete) and was removed by retention" in err["message"]
    other = "00000000-0000-4000-8000-000000000001"
    error_of(client.get(f"/tasker/tasks/{other}", headers=admin), 404, "TASK_NOT_FOUND")
