"""No project id reaches a caller without projects:read: not through the
open /metrics and /metrics/json, nor the other open routes, nor the JSON
request log; and TASKQ_METRICS_TOKEN closes /metrics* to anyone without it
(or a credential with system:read)."""

from __future__ import annotations

import logging

import pytest
from apihelpers import bearer
from test_taskdriver_support import login, next_task, ok, plain_tasks, plain_type, project

from api.auth import create_api_key
from taskq.keys import ApiKeys, TaskDriverKeys

TOKEN = "metrics-token-5b1e0c6f"


@pytest.fixture
def busy(client, admin):
    """A project with tasks, one of them leased to an agent: its queue
    (td-<id>) is known to the engine and has counts in every family."""
    p = project(client, admin, name="secret-work")
    t = plain_type(client, admin, p["id"])
    plain_tasks(client, admin, p["id"], t["id"], 3)
    session = login(client, "agent-1", p["id"])
    next_task(client, session, "agent-1")
    return p


def _scrape(client, path="/metrics", **headers):
    return client.get(path, headers=headers)


def test_an_anonymous_scrape_never_shows_a_project_id(client, busy):
    client.get(f"/api/projects/{busy['id']}/no-such-route")     # a 404 naming the id in its path
    body = _scrape(client).get_data(as_text=True)
    assert "taskq_queue_depth" in body
    assert busy["id"] not in body
    assert 'queue="project:secret-work"' in body               # labelled by the project's name
    assert busy["id"] not in _scrape(client, "/metrics/json").get_data(as_text=True)


def test_a_deleted_projects_queue_is_labelled_without_its_id(client, admin, busy, r, prefix):
    r.delete(TaskDriverKeys(prefix).project(busy['id']))             # the record is gone, the queue is not
    body = _scrape(client).get_data(as_text=True)
    assert busy["id"] not in body and 'queue="project:unknown-' in body


def test_open_routes_never_carry_a_project_id(client, busy):
    for path in ("/health", "/api/health", "/api/docs.json", "/api/docs", "/metrics/json"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert busy["id"] not in resp.get_data(as_text=True), path


def test_the_request_log_fingerprints_project_ids(client, admin, busy, caplog):
    with caplog.at_level(logging.INFO, logger="taskq.api.access"):
        ok(client.get(f"/api/projects/{busy['id']}", headers=admin))
    lines = [r.getMessage() for r in caplog.records if r.name == "taskq.api.access"]
    assert lines and all(busy["id"] not in line for line in lines)
    assert '"path": "/api/projects/id~' in lines[-1]


def test_a_metrics_token_closes_metrics_to_anonymous_callers(make_app, r, prefix):
    app = make_app(TASKQ_METRICS_TOKEN=TOKEN)
    client = app.test_client()
    for path in ("/metrics", "/metrics/json"):
        anonymous = _scrape(client, path)
        assert anonymous.status_code == 401 and anonymous.json["success"] is False, path
        assert "WWW-Authenticate" in anonymous.headers
        assert _scrape(client, path, Authorization="Bearer not-the-token").status_code == 401
        assert _scrape(client, path, Authorization=f"Bearer {TOKEN}x").status_code == 401
        assert _scrape(client, path, Authorization=f"Bearer {TOKEN}").status_code == 200
        assert _scrape(client, path, **bearer("system:read")).status_code == 200
        assert _scrape(client, path, **bearer("tasks:read")).status_code == 403
    key, _ = create_api_key(r, ApiKeys(prefix), "prom", ["system:read"])
    assert _scrape(client, "/metrics", Authorization=f"ApiKey {key}").status_code == 200


def test_without_a_token_metrics_stay_open(client):
    assert _scrape(client).status_code == 200 and _scrape(client, "/metrics/json").status_code == 200
