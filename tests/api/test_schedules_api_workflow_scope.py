"""A scheduled task whose payload names a Tasker handler starts a workflow
on every run: creating one, changing one, or running one now needs the
permission Tasker's POST /tasker/tasks needs (tasker.task:create), not
schedules:write alone. Refusals are 403 in the /tasks error style and
leave nothing stored, changed or running. Against a real Redis with the
example handlers published."""

from __future__ import annotations

import pytest
from apihelpers import bearer
from schedules_api_helpers import spec
from tasker_helpers import PAYMENT, examples  # noqa: F401  (fixture)

from api.auth import create_api_key
from taskq import Queue
from taskq.keys import ApiKeys
from taskq.schedules.firing import workflow_run_id
from taskq.workflows import get as get_workflow

WORKFLOW_START = "tasker.task:create"
"""The permission POST /tasker/tasks requires (the Tasker descriptor names it)."""
HANDLER = {"handler": "payments.process_payment@2.1.0", "context": PAYMENT["context"]}
ADMIN = bearer("admin")


@pytest.fixture
def write_only(r, prefix) -> dict:
    """An API key with schedules:write and nothing else."""
    key, _ = create_api_key(r, ApiKeys(prefix), "scheduler-bot", ["schedules:write"])
    return {"Authorization": f"ApiKey {key}"}


def refused(rv) -> None:
    assert rv.status_code == 403, rv.json
    body = rv.json
    assert body["success"] is False and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "insufficient_scope"
    assert body["error"]["details"] == {"required_scope": WORKFLOW_START}
    assert "starts a Tasker workflow" in body["error"]["message"]


def test_schedules_write_alone_cannot_create_a_task_that_starts_workflows(client, r, prefix, examples,
                                                                         write_only):
    refused(client.post("/tasks", json=spec(payload=HANDLER), headers=write_only))
    refused(client.post("/tasks", json=spec(payload=HANDLER, schedule_kind="event", schedule_expr="go"),
                        headers=write_only))
    assert client.get("/tasks", headers=ADMIN).json["meta"]["total"] == 0
    assert client.post("/tasker/tasks", json=PAYMENT, headers=write_only).status_code == 403  # as Tasker
    # tasks that start no workflow are still this key's to make
    assert client.post("/tasks", json=spec(), headers=write_only).status_code == 201


def test_nor_change_or_run_one_now(client, r, prefix, examples, write_only):
    flow = client.post("/tasks", json=spec(payload=HANDLER), headers=ADMIN).json["data"]
    plain = client.post("/tasks", json=spec(), headers=write_only).json["data"]

    refused(client.put(f"/tasks/{flow['id']}", json={"schedule_expr": "* * * * *"}, headers=write_only))
    refused(client.put(f"/tasks/{plain['id']}", json={"payload": HANDLER}, headers=write_only))
    refused(client.post(f"/tasks/{flow['id']}/run_now", headers=write_only))

    shown = client.get(f"/tasks/{flow['id']}", headers=ADMIN).json["data"]
    assert shown["schedule_expr"] == flow["schedule_expr"] and shown["runs_total"] == 0
    assert shown["recent_runs"] == []
    assert client.get(f"/tasks/{plain['id']}", headers=ADMIN).json["data"]["payload"] == plain["payload"]
    assert Queue("default", redis=r, prefix=prefix).count() == 0  # no workflow step was enqueued
    # what starts no workflow stays allowed: pausing it, or making it run tasks instead
    assert client.post(f"/tasks/{flow['id']}/pause", headers=write_only).status_code == 200
    assert client.put(f"/tasks/{flow['id']}", json={"payload": spec()["payload"]},
                      headers=write_only).status_code == 200
    assert client.post(f"/tasks/{flow['id']}/run_now", headers=write_only).status_code == 200


def test_an_unknown_task_is_still_404_not_403(client, examples, write_only):
    missing = "00000000-0000-4000-8000-000000000000"
    assert client.put(f"/tasks/{missing}", json={"title": "x"}, headers=write_only).status_code == 404
    assert client.post(f"/tasks/{missing}/run_now", headers=write_only).status_code == 404


@pytest.mark.parametrize("scopes", [("schedules:write", "tasker.task:create"), ("schedules:write", "tasker.*"),
                                    ("schedules:write", "tasker.task:*"), ("admin",)])
def test_with_the_tasker_create_permission_it_creates_changes_and_runs(client, r, prefix, examples, scopes):
    key, _ = create_api_key(r, ApiKeys(prefix), "ops", list(scopes))
    headers = {"Authorization": f"ApiKey {key}"}
    rv = client.post("/tasks", json=spec(payload=HANDLER), headers=headers)
    assert rv.status_code == 201, rv.json
    sid = rv.json["data"]["id"]
    assert client.put(f"/tasks/{sid}", json={"schedule_expr": "*/5 * * * *"}, headers=headers).status_code == 200
    ran = client.post(f"/tasks/{sid}/run_now", headers=headers)
    assert ran.status_code == 200 and ran.json["data"]["outcome"] == "created"
    assert len(ran.json["data"]["task_ids"]) >= 1
    (run,) = client.get(f"/tasks/{sid}", headers=headers).json["data"]["recent_runs"]
    workflow = get_workflow(r, workflow_run_id(sid, run["run"]), prefix=prefix)
    assert workflow["full_name"] == "payments.process_payment@2.1.0"


def test_the_permission_is_the_one_tasker_creates_workflows_with(app):
    (rule,) = [rule for rule in app.url_map.iter_rules()
               if rule.rule == "/tasker/tasks" and "POST" in rule.methods]
    assert app.view_functions[rule.endpoint].required_scope == WORKFLOW_START


def test_the_dashboard_runs_one_now_only_with_that_permission(client, r, prefix, examples):
    """The dashboard's "run now" asks what POST /tasks/{id}/run_now asks: an
    operator with scope dashboard alone is refused (403, nothing runs)."""
    from dashboard_client import act, login

    flow = client.post("/tasks", json=spec(payload=HANDLER), headers=ADMIN).json["data"]
    plain = client.post("/tasks", json=spec(), headers=ADMIN).json["data"]
    csrf = login(client, "dashboard")
    resp = act(client, f"/dashboard/schedules/{flow['id']}/run-now", csrf)
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "insufficient_scope"
    assert client.get(f"/tasks/{flow['id']}", headers=ADMIN).json["data"]["runs_total"] == 0
    assert act(client, f"/dashboard/schedules/{plain['id']}/run-now", csrf).status_code == 200
    csrf = login(client, "dashboard", WORKFLOW_START)
    assert act(client, f"/dashboard/schedules/{flow['id']}/run-now", csrf).status_code == 200
