"""Hostile input answers 4xx on every route, in the route's own error body,
never 500: JSON nested past Python's recursion limit, lone surrogates,
URLs that are not UTF-8; and values stored near the limits read back."""

from __future__ import annotations

import json
import re

import pytest
from test_taskdriver_support import VARIABLES, login, ok, project, task, task_type

from taskq.options import MAX_JSON_DEPTH
from taskq.lua import call

DEEP = "[" * 10_000 + "]" * 10_000
JSON = {"Content-Type": "application/json"}


def _nest(levels):
    return "[" * levels + "]" * levels


def _write_routes(app):
    """Every (method, path) that takes a body, path parameters filled in."""
    out = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: f"dts:{m.group(1)}" if "task" in m.group(1)
                      else "x", rule.rule)
        for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH"}):
            out.append((method, path))
    return out


def _assert_dialect_error(resp, status, code):
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    body = resp.json
    if "success" not in body:           # Tasker: {"error": {type, message, code}}, no envelope
        assert set(body) == {"error"} and body["error"]["code"] == code.upper() and body["error"]["type"]
        return {"error": {**body["error"], "code": code}}
    assert body["success"] is False
    if isinstance(body["error"], str):  # TaskDriver: the message, code beside it
        assert body["code"] == code
    else:                               # DTS: {code, message, details}
        assert body["error"]["code"] == code and body["error"]["message"]
    return body


@pytest.mark.parametrize("who", ["admin", "nobody"])
def test_a_deep_body_is_400_on_every_route(app, client, admin, who):
    headers = {**JSON, **(admin if who == "admin" else {})}
    routes = _write_routes(app)
    assert len(routes) >= 15 and ("POST", "/api/auth/login") in routes
    for method, path in routes:
        resp = client.open(path, method=method, data=DEEP, headers=headers)
        body = _assert_dialect_error(resp, 400, "invalid_json")
        text = body["error"] if isinstance(body["error"], str) else body["error"]["message"]
        assert "deeper" in text, (method, path)


def test_a_number_too_long_to_read_is_400_on_every_route(app, client, admin):
    body = '{"name":"x","n":' + "9" * 5000 + "}"
    for method, path in _write_routes(app):
        resp = client.open(path, method=method, data=body, headers={**JSON, **admin})
        _assert_dialect_error(resp, 400, "invalid_json")
    # digits in a string are text: read, then judged by the field's own rules
    text = '{"name":"x","command":"echo","description":"%s"}' % ("9" * 5000)
    resp = client.post("/api/tasks", data=text, headers={**JSON, **admin})
    assert resp.status_code == 422 and list(resp.json["error"]["details"]["fields"]) == ["description"]


def test_error_body_follows_the_dialect(client, admin):
    login_resp = client.post("/api/auth/login", data=DEEP, headers=JSON)
    assert isinstance(login_resp.json["error"], str) and login_resp.json["code"] == "invalid_json"
    dts_resp = client.post("/api/tasks", data=DEEP, headers={**JSON, **admin})
    assert dts_resp.json["error"]["code"] == "invalid_json"
    assert dts_resp.json["correlationId"] and dts_resp.json["timestamp"]


@pytest.mark.parametrize("levels", [101, 900, 990, 999, 1001])
def test_bodies_just_under_the_recursion_limit_are_400_too(client, admin, levels):
    body = '{"name":"x","command":"echo","description":' + _nest(levels) + "}"
    _assert_dialect_error(client.post("/api/tasks", data=body, headers={**JSON, **admin}), 400, "invalid_json")
    body = '{"agentName":"a","projectId":' + _nest(levels) + "}"
    _assert_dialect_error(client.post("/api/auth/login", data=body, headers=JSON), 400, "invalid_json")


def test_brackets_inside_strings_do_not_count(client, admin):
    text = 'a \\" [' + "[" * 3000  # an escaped quote must not end the string early
    d = ok(client.post("/api/tasks", json={"name": "[" * 200, "command": "echo {{{{", "description": text},
                       headers=admin), 201)
    assert d["name"] == "[" * 200 and d["description"] == text


def test_a_body_that_is_not_utf8_is_400(client, admin):
    resp = client.post("/api/tasks", data=b'{"name":"\xed\xbf\xbf","command":"e"}', headers={**JSON, **admin})
    _assert_dialect_error(resp, 400, "invalid_json")


# -- values near the limits are stored and read back --------------------------------

def test_a_deep_checkpoint_within_the_limit_round_trips(client, admin, dts):
    d = ok(client.post("/api/tasks", json={"name": "n", "command": "c", "checkpoint_enabled": True},
                       headers=admin), 201)
    dts.claim()
    url = f"/api/tasks/{d['id']}/checkpoint"
    inner = json.loads(_nest(MAX_JSON_DEPTH - 1))  # plus the checkpoint's own object: the limit
    got = ok(client.post(url, json={"checkpoint_data": {"k": inner}}, headers=admin))
    assert got["checkpoint_data"] == {"k": inner}
    assert ok(client.get(f"/api/tasks/{d['id']}", headers=admin))["checkpoint_data"] == {"k": inner}
    resp = client.post(url, json={"checkpoint_data": {"k": [inner]}}, headers=admin)
    body = _assert_dialect_error(resp, 422, "validation_error")
    assert body["validationDetails"][0]["field"] == "checkpoint"


@pytest.mark.parametrize("levels", [201, 900, 990, 5000])
def test_a_deep_result_stored_by_a_worker_reads_back(client, admin, dts, levels):
    """A worker's result is not depth-checked on its way in (any producer
    may complete a task with any text): reading and listing must not fail."""
    t = dts.enqueue_call(None, meta={"name": "deep"})
    [lease] = dts.claim()
    call(dts.redis, "complete", dts.qkeys, 1, lease.id, lease.token, _nest(levels))
    got = ok(client.get(f"/api/tasks/{t.id}", headers=admin))
    assert got["result"] == _nest(levels)  # too deep to hand on as JSON: its text
    assert ok(client.get("/api/tasks", headers=admin))[0]["id"] == t.id


# -- lone surrogates: 422 naming the field ----------------------------------------------

@pytest.mark.parametrize("body, field", [
    ('{"name":"x","command":"echo","tags":["ok","\\udfff"]}', "tags.1"),
    ('{"name":"\\udfff","command":"echo"}', "name"),
    ('{"name":"x","command":"echo \\ud800 x"}', "command"),
    ('{"name":"x","command":"echo","description":"\\uDFFF"}', "description"),
])
def test_lone_surrogates_are_422_on_dts_routes(client, admin, dts, body, field):
    resp = client.post("/api/tasks", data=body, headers={**JSON, **admin})
    body = _assert_dialect_error(resp, 422, "validation_error")
    assert body["error"]["details"]["fields"] == {field: ["contains a lone surrogate (not valid Unicode text)"]}
    assert dts.count() == 0


def test_lone_surrogates_are_422_on_taskdriver_routes(client, admin):
    resp = client.post("/api/auth/login", data='{"agentName":"\\udfff","projectId":"x"}', headers=JSON)
    body = _assert_dialect_error(resp, 422, "validation_error")
    assert body["validationDetails"][0]["field"] == "agentName" and "surrogate" in body["error"]
    p = project(client, admin)
    tt = task_type(client, admin, p["id"])
    resp = client.post(f"/api/projects/{p['id']}/tasks", headers={**JSON, **admin},
                       data='{"typeId":"%s","variables":{"repository_url":"a\\udfffb"}}' % tt["id"])
    body = _assert_dialect_error(resp, 422, "validation_error")
    assert body["validationDetails"][0]["field"] == "variables.repository_url"


def test_a_surrogate_pair_is_a_character_not_an_error(client, admin):
    d = ok(client.post("/api/tasks", data='{"name":"\\ud83d\\ude00","command":"echo","tags":["\\ud83d\\ude00"]}',
                       headers={**JSON, **admin}), 201)
    assert d["name"] == "😀" and d["tags"] == ["😀"]


# -- URLs --------------------------------------------------------------------------------

def test_a_query_string_that_is_not_utf8_is_400(client, admin):
    for url in ("/api/tasks?tag=%ED%BF%BF", "/api/tasks?status=%FF", "/api/projects?status=%C3"):
        resp = client.get(url, headers=admin)
        _assert_dialect_error(resp, 400, "invalid_encoding")


def test_a_path_that_is_not_utf8_is_4xx(client, admin):
    resp = client.get("/api/tasks/dts:%ED%BF%BF", headers=admin)
    assert 400 <= resp.status_code < 500
    # as a WSGI server hands it over: the raw bytes, latin-1 decoded
    resp = client.get("/api/tasks/x", headers=admin,
                      environ_overrides={"PATH_INFO": b"/api/tasks/dts:\xed\xbf\xbf".decode("latin-1")})
    _assert_dialect_error(resp, 400, "invalid_encoding")


# -- PUT /api/tasks/{id} keeps the task's meta exact ----------------------------------------

def test_put_keeps_taskdriver_variables_and_other_meta_exact(client, admin, make_queue):
    p = project(client, admin)
    tt = task_type(client, admin, p["id"])
    d = task(client, admin, p["id"], tt["id"], variables={**VARIABLES, "n": 12345678901234567, "f": 0.1})
    q = make_queue(f"td-{p['id']}")
    # meta fields a TaskDriver PUT does not name: other dialects' or the Python API's
    q.update(d["id"], meta={"empty": [], "obj": {}, "nested": [[], [[]]]})
    got = ok(client.put(f"/api/tasks/{d['id']}", json={"variables": {"security_aspects": "xss"}},
                        headers=admin))
    assert got["variables"] == {**VARIABLES, "n": 12345678901234567, "f": 0.1, "security_aspects": "xss"}
    meta = q.get(d["id"]).meta
    assert (meta["empty"], meta["obj"], meta["nested"]) == ([], {}, [[], [[]]])
    assert meta["variables"]["n"] == 12345678901234567


def test_put_of_dts_fields_keeps_the_rest_of_meta(client, admin, dts):
    t = dts.enqueue_call(None, meta={"name": "a", "command": "c", "extra": {"ids": [], "big": 2 ** 60 + 1}})
    got = ok(client.put(f"/api/tasks/{t.id}", json={"description": "now described", "tags": ["é"]},
                        headers=admin))
    assert got["description"] == "now described" and got["tags"] == ["é"]
    assert dts.get(t.id).meta["extra"] == {"ids": [], "big": 2 ** 60 + 1}


def test_concurrent_puts_lose_no_variable(app, admin, make_queue):
    import threading

    client = app.test_client()
    p = project(client, admin)
    tt = task_type(client, admin, p["id"])
    d = task(client, admin, p["id"], tt["id"])
    url = f"/api/tasks/{d['id']}"
    statuses = []

    def put(name):
        c = app.test_client()
        for i in range(15):
            statuses.append(c.put(url, json={"variables": {f"{name}{i}": i}}, headers=admin).status_code)

    threads = [threading.Thread(target=put, args=(n,)) for n in "ab"]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    variables = make_queue(f"td-{p['id']}").get(d["id"]).meta["variables"]
    written = [f"{n}{i}" for n in "ab" for i in range(15)]
    # a PUT may be refused (409) when others keep winning; none is lost silently
    lost = [k for k, s in zip(written, statuses) if s == 200 and k not in variables]
    assert set(statuses) <= {200, 409} and not lost
