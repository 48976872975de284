"""The scheduled-tasks dialect's event tasks (POST /events, and
taskq.publish from Python), auth per route, headers, errors before a route
and the OpenAPI document, against a real Redis."""

from __future__ import annotations

import json

import pytest
from apihelpers import bearer
from schedules_api_helpers import (DOCUMENT_FIELDS, EVENTS, MISSING, READ, WRITE, create,
                                   field_error, spec)

import taskq
from taskq import Queue

# -- events ------------------------------------------------------------------------

def test_an_event_task_fires_on_post_events_and_on_taskq_publish(client, r, prefix):
    task = create(client, schedule_kind="event", schedule_expr="invoice.paid")
    other = create(client, schedule_kind="event", schedule_expr="invoice.void")
    rv = client.post("/events", json={"name": "invoice.paid", "payload": {"invoice": 42}}, headers=EVENTS)
    assert rv.status_code == 202, rv.json
    assert rv.json["data"] == {"name": "invoice.paid", "fired": [{"id": task["id"], "run": "n1"}]}

    shown = client.get(f"/tasks/{task['id']}", headers=READ).json["data"]
    [run] = shown["recent_runs"]
    assert run["run"] == "n1" and run["outcome"] == "created"
    [engine_id] = run["task_ids"]
    assert Queue("default", redis=r, prefix=prefix).get(engine_id).meta["event"] == {"invoice": 42}
    assert client.get(f"/tasks/{other['id']}", headers=READ).json["data"]["recent_runs"] == []

    assert taskq.publish("invoice.paid", {"invoice": 43}, redis=r, prefix=prefix) == ["n2"]
    runs = client.get(f"/tasks/{task['id']}", headers=READ).json["data"]["recent_runs"]
    assert [x["run"] for x in runs] == ["n2", "n1"]
    assert Queue("default", redis=r, prefix=prefix).get(runs[0]["task_ids"][0]).meta["event"] == {"invoice": 43}


def test_events_nobody_waits_for_and_paused_or_canceled_tasks_fire_nothing(client):
    paused = create(client, schedule_kind="event", schedule_expr="tick")
    client.post(f"/tasks/{paused['id']}/pause", headers=WRITE)
    canceled = create(client, schedule_kind="event", schedule_expr="tick")
    client.post(f"/tasks/{canceled['id']}/cancel", headers=WRITE)
    for name in ("tick", "nobody.listens"):
        rv = client.post("/events", json={"name": name}, headers=EVENTS)
        assert rv.status_code == 202 and rv.json["data"]["fired"] == []


def test_an_event_renamed_by_put_fires_on_its_new_name_only(client):
    task = create(client, schedule_kind="event", schedule_expr="old.name")
    client.put(f"/tasks/{task['id']}", json={"schedule_expr": "new.name"}, headers=WRITE)
    assert client.post("/events", json={"name": "old.name"}, headers=EVENTS).json["data"]["fired"] == []
    assert len(client.post("/events", json={"name": "new.name"}, headers=EVENTS).json["data"]["fired"]) == 1


@pytest.mark.parametrize("body,field", [
    ({}, "name"), ({"name": ""}, "name"), ({"name": "has space"}, "name"), ({"name": "x" * 129}, "name"),
    ({"name": 5}, "name"), ({"name": ["a"]}, "name"), ({"name": "ok", "payload": [1]}, "payload"),
    ({"name": "ok", "payload": "text"}, "payload"),
    ({"name": "ok", "payload": json.loads('{"a": ' * 40 + "1" + "}" * 40)}, "payload"),
    ({"name": "ok", "payload": {"big": "x" * 70_000}}, "payload"),
    ({"name": "ok", "topic": "x"}, "topic"),
])
def test_post_events_validation(client, body, field):
    field_error(client.post("/events", json=body, headers=EVENTS), field)


def test_post_events_malformed_bodies_are_400(client):
    for data in ("", "[]", "{oops", "[" * 10_000 + "]" * 10_000):
        rv = client.post("/events", data=data, headers={**EVENTS, "Content-Type": "application/json"})
        assert rv.status_code == 400, (data[:10], rv.json)
    rv = client.post("/events", data='{"name": "\\udfff"}', headers={**EVENTS, "Content-Type": "application/json"})
    assert rv.status_code == 422


# -- auth, headers, errors of no route, OpenAPI ---------------------------------------

ROUTES = [
    ("get", "/tasks", "schedules:read"), ("post", "/tasks", "schedules:write"),
    ("get", "/tasks/{id}", "schedules:read"), ("put", "/tasks/{id}", "schedules:write"),
    ("post", "/tasks/{id}/run_now", "schedules:write"), ("post", "/tasks/{id}/snooze", "schedules:write"),
    ("post", "/tasks/{id}/pause", "schedules:write"), ("post", "/tasks/{id}/resume", "schedules:write"),
    ("post", "/tasks/{id}/cancel", "schedules:write"), ("post", "/events", "events:write"),
]


@pytest.mark.parametrize("method,path,scope", ROUTES, ids=[f"{m}-{p}" for m, p, _ in ROUTES])
def test_every_route_needs_a_credential_with_its_scope(client, method, path, scope):
    url = path.replace("{id}", MISSING)
    call = getattr(client, method)
    assert call(url).status_code == 401
    assert call(url, headers={"Authorization": "Bearer forged.token.here"}).status_code == 401
    assert call(url, headers=bearer(scope, ttl=-10)).json["error"]["code"] == "token_expired"
    for wrong in ("tasks:write", "schedules:read" if scope != "schedules:read" else "events:write"):
        rv = call(url, headers=bearer(wrong))
        assert rv.status_code == 403, (wrong, rv.json)
        assert rv.json["error"]["code"] == "insufficient_scope"
    assert call(url, headers=bearer(scope)).status_code not in (401, 403)
    assert call(url, headers=bearer("admin")).status_code not in (401, 403)


def test_api_keys_work_and_write_includes_read(client, r, prefix):
    from api.auth import create_api_key
    from taskq.keys import ApiKeys

    key, _ = create_api_key(r, ApiKeys(prefix), "ops", ["schedules:write"])
    headers = {"Authorization": f"ApiKey {key}"}
    assert client.post("/tasks", json=spec(), headers=headers).status_code == 201
    assert client.get("/tasks", headers=headers).status_code == 200
    assert client.post("/events", json={"name": "x"}, headers=headers).status_code == 403


def test_correlation_ids_version_and_cache_headers(client):
    rv = client.get("/tasks", headers={**READ, "X-Request-ID": "my-req-1"})
    assert rv.headers["X-Request-ID"] == "my-req-1" and rv.headers["X-Correlation-ID"] == "my-req-1"
    assert rv.headers["X-API-Version"] == "1.0" and rv.headers["Cache-Control"] == "no-store"
    assert "X-RateLimit-Remaining" in rv.headers
    rv = client.post("/tasks", json=spec(priority=0), headers={**WRITE, "X-Request-ID": "my-req-2"})
    assert rv.json["correlationId"] == "my-req-2"
    rv = client.get("/tasks", headers={**READ, "Accept": "application/json; version=9.0"})
    assert rv.status_code == 406


def test_rate_limits_apply(make_app):
    client = make_app(TASKQ_RATE_LIMIT="2/60").test_client()
    codes = [client.get("/tasks", headers=READ).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    rv = client.post("/events", json={"name": "x"}, headers=READ)
    assert rv.status_code == 429 and rv.json["error"]["code"] == "rate_limited" and "Retry-After" in rv.headers


def test_errors_before_a_route_are_in_the_object_style_and_other_dialects_keep_their_tasks(client):
    for rv in (client.get(f"/tasks/{MISSING}/nothing", headers=WRITE),
               client.delete(f"/tasks/{MISSING}", headers=WRITE), client.get("/events", headers=WRITE)):
        assert rv.status_code in (404, 405)
        assert set(rv.json["error"]) == {"code", "message", "details"} and rv.json["success"] is False
    assert client.get("/api/tasks", headers=bearer("tasks:read")).status_code == 200
    assert client.get("/tasks", headers=bearer("tasks:read")).status_code == 403


def test_openapi_documents_every_route_with_its_schemas_and_security(client):
    doc = client.get("/api/docs.json").json
    for method, path, _ in ROUTES:
        op = doc["paths"][path.replace("{id}", "{task_id}")][method]
        assert {"bearerAuth": []} in op["security"], path
        assert {"401", "403", "429"} <= set(op["responses"]), path
        ok = [c for c in op["responses"] if c.startswith("2")]
        assert ok and "$ref" in json.dumps(op["responses"][ok[0]]), path
    for method, path, schema in (("post", "/tasks", "ScheduledTaskCreate"),
                                 ("put", "/tasks/{task_id}", "ScheduledTaskFields"),
                                 ("post", "/tasks/{task_id}/snooze", "Snooze"), ("post", "/events", "Event")):
        ref = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/" + schema)
        assert {"400", "422"} <= set(doc["paths"][path][method]["responses"])
    create_schema = doc["components"]["schemas"]["ScheduledTaskCreate"]
    assert set(create_schema["required"]) == {"title", "description", "schedule_kind", "payload", "created_by"}
    assert set(DOCUMENT_FIELDS) <= set(create_schema["properties"])
    assert create_schema["properties"]["priority"]["minimum"] == 1
    assert create_schema["properties"]["priority"]["maximum"] == 9
    assert doc["components"]["schemas"]["Snooze"]["properties"]["delay_seconds"]["maximum"] == 604800
    assert doc["paths"]["/events"]["post"]["responses"]["202"]
