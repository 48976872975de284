"""Times before the year 1000 and in the year 9999, in every dialect: the
answer to a create, the item and the listing carry the same ISO 8601 text
(four-digit year, milliseconds, Z), and a time an offset moves out of the
years 0001..9999 is a 422, never a 500.

A due time before 1970 is a negative number of epoch milliseconds; the
engine takes it as due now (the task is claimable at once) and keeps the
time as sent."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from apihelpers import bearer
from click.testing import CliRunner
from dashboard_client import login
from schedules_api_helpers import WRITE, spec
from test_taskdriver_support import plain_tasks, plain_type, project

from taskq.cli import main
from taskq.isotime import to_ms
from taskq.keys import Keys, WorkflowKeys
from taskq.projects.store import QUEUE_PREFIX
from taskq.workflows import Registry, create

EARLY = [("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"),
         ("0093-03-01T23:43:30Z", "0093-03-01T23:43:30.000Z"),
         ("0999-12-31T23:59:59.5+00:00", "0999-12-31T23:59:59.500Z"),
         ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z")]
LATE = [("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
        ("9999-12-31T20:00:00-03:00", "9999-12-31T23:00:00.000Z")]
OUT_OF_RANGE = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01", "0000-01-01T00:00:00Z",
                "10000-01-01T00:00:00Z", "93-03-01T23:43:30Z"]
YEAR_93 = datetime(93, 3, 1, 23, 43, 30, tzinfo=timezone.utc)


def _dts(client, admin, at):
    return client.post("/api/tasks", json={"name": "t", "command": "true", "scheduled_at": at}, headers=admin)


@pytest.mark.parametrize("sent, answered", EARLY + LATE)
def test_dts_scheduled_at_reads_back_the_same_in_create_item_and_listing(client, admin, dts, sent, answered):
    resp = _dts(client, admin, sent)
    assert resp.status_code == 201, resp.json
    task = resp.json["data"]
    assert task["scheduled_at"] == answered
    assert client.get(f"/api/tasks/{task['id']}", headers=admin).json["data"]["scheduled_at"] == answered
    listed = {t["id"]: t for t in client.get("/api/tasks?limit=100", headers=admin).json["data"]}
    assert listed[task["id"]]["scheduled_at"] == answered
    assert dts.get(task["id"]).status == ("delayed" if sent.startswith("9999") else "queued")


def test_a_due_time_before_1970_is_due_now(client, admin, dts):
    """Negative epoch ms: claimable at once, in creation order."""
    ids = [_dts(client, admin, sent).json["data"]["id"] for sent, _ in EARLY]
    assert [lease.id for lease in dts.claim(10)] == ids


def test_dts_update_to_an_early_year_keeps_the_time(client, admin, dts):
    task = _dts(client, admin, "9999-12-31T23:59:59Z").json["data"]
    resp = client.put(f"/api/tasks/{task['id']}", json={"scheduled_at": "0093-03-01T23:43:30Z"}, headers=admin)
    assert resp.status_code == 200, resp.json
    assert resp.json["data"]["scheduled_at"] == "0093-03-01T23:43:30.000Z"
    assert dts.get(task["id"]).status == "queued" and dts.get(task["id"]).scheduled_at == YEAR_93


@pytest.mark.parametrize("sent", OUT_OF_RANGE)
def test_a_time_outside_the_calendar_is_a_422_on_create_and_update(client, admin, sent):
    resp = _dts(client, admin, sent)
    assert resp.status_code == 422 and resp.json["error"]["code"] == "validation_error", resp.json
    assert "scheduled_at" in resp.json["error"]["details"]["fields"]
    task = _dts(client, admin, None).json["data"]
    resp = client.put(f"/api/tasks/{task['id']}", json={"scheduled_at": sent}, headers=admin)
    assert resp.status_code == 422 and resp.json["error"]["code"] == "validation_error", resp.json


def test_taskdriver_and_shared_views_pad_a_stored_early_time(client, admin, r, prefix):
    """TaskDriver's times are the server's own; one stored as year 93 (as a
    restore from another system could leave it) reads padded everywhere."""
    pid = project(client, admin)["id"]
    [tid] = plain_tasks(client, admin, pid, plain_type(client, admin, pid)["id"], 1)
    r.hset(Keys(prefix).queue(QUEUE_PREFIX + pid).task(tid), mapping={
        "created": to_ms(YEAR_93), "updated": to_ms(YEAR_93)})
    reader = bearer("projects:read")
    listed = client.get(f"/api/projects/{pid}/tasks", headers=reader)
    shared = client.get(f"/api/tasks/{tid}", headers=reader)
    assert listed.status_code == shared.status_code == 200, (listed.json, shared.json)
    [row] = listed.json["data"]
    for view in (row, shared.json["data"]):
        assert view["createdAt"] == view["updatedAt"] == "0093-03-01T23:43:30.000Z", view
    assert shared.json["data"]["created_at"] == "0093-03-01T23:43:30.000Z"


def test_tasker_pads_a_stored_early_time(client, admin, r, prefix):
    reg = Registry()
    reg.register({"namespace": "test", "name": "flow", "version": "1.0.0", "step_templates": [
        {"name": "source", "handler_class": "tests.integration.workflow_steps.Source"}]})
    wf = create(r, "test.flow", registry=reg, prefix=prefix)
    r.hset(WorkflowKeys(prefix).workflow(wf["id"]), "created", to_ms(YEAR_93))
    got = client.get(f"/tasker/tasks/{wf['id']}", headers=admin)
    assert got.status_code == 200, got.json
    assert got.json["created_at"] == "0093-03-01T23:43:30.000Z"
    assert got.json["updated_at"][:4] != "93-0" and len(got.json["updated_at"]) == 24


def test_schedules_once_in_9999_and_early_or_shifted_years(client):
    created = client.post("/tasks", json=spec(schedule_kind="once", schedule_expr="9999-12-31T23:59:59Z"),
                          headers=WRITE)
    assert created.status_code == 201, created.json
    sid = created.json["data"]["id"]
    assert created.json["data"]["next_run_at"] == "9999-12-31T23:59:59.000Z"
    assert client.get(f"/tasks/{sid}", headers=WRITE).json["data"]["next_run_at"] == "9999-12-31T23:59:59.000Z"
    listed = {s["id"]: s for s in client.get("/tasks", headers=WRITE).json["data"]}
    assert listed[sid]["next_run_at"] == "9999-12-31T23:59:59.000Z"
    for expr, tz in (("0093-03-01T23:43:30Z", "UTC"), ("0001-01-01T00:00:00+01:00", "UTC"),
                     ("0001-01-01T00:00:00", "Asia/Tokyo"), ("9999-12-31T23:59:59", "America/New_York")):
        resp = client.post("/tasks", json=spec(schedule_kind="once", schedule_expr=expr, timezone=tz),
                           headers=WRITE)
        assert resp.status_code == 422 and resp.json["error"]["code"] == "validation_error", (expr, resp.json)


def test_dashboard_task_page_and_cli_show_an_early_year(app, client, admin, dts, redis_url, prefix):
    tid = _dts(client, admin, "0093-03-01T23:43:30Z").json["data"]["id"]
    viewer = app.test_client()
    login(viewer, "dashboard:read")
    page = viewer.get(f"/dashboard/tasks/{tid}").get_data(as_text=True)
    assert 'datetime="0093-03-01T23:43:30.000Z"' in page and ">0093-03-01 23:43:30<" in page
    data = viewer.get(f"/dashboard/data/tasks/{tid}").get_json()["data"]
    assert data["task"]["scheduled_at"] == "0093-03-01T23:43:30.000Z"
    run = CliRunner().invoke(main, ["tasks", "show", tid, "--json", "--url", redis_url, "--prefix", prefix])
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["task"]["scheduled_at"] == "0093-03-01T23:43:30.000Z"
    text = CliRunner().invoke(main, ["tasks", "show", tid, "--url", redis_url, "--prefix", prefix])
    assert "0093-03-01 23:43:30" in text.output
