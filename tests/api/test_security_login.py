"""POST /api/auth/login: its own budget per client IP, credentials limited
to named agents and projects (at login and on the agent routes), and the
start-up line saying which login mode is on."""

from __future__ import annotations

import logging
import uuid

import jwt
import pytest
from apihelpers import SECRET, bearer
from test_taskdriver_support import login, next_task, ok, plain_tasks, plain_type, project

from api.auth import create_api_key
from taskq.keys import ApiKeys


def _login(client, agent, project_id, headers=None, ip="127.0.0.1"):
    return client.post("/api/auth/login", json={"agentName": agent, "projectId": project_id},
                       headers=headers or {}, environ_base={"REMOTE_ADDR": ip})


@pytest.fixture
def two(client, admin):
    """Two projects with tasks: (id, task ids) each."""
    out = []
    for name in ("alpha", "beta"):
        p = project(client, admin, name=name)
        t = plain_type(client, admin, p["id"])
        out.append((p["id"], plain_tasks(client, admin, p["id"], t["id"], 2)))
    return out


# -- rate limit per IP --------------------------------------------------------------
def test_login_attempts_are_limited_per_ip(make_app, admin):
    client = make_app(TASKQ_LOGIN_RATE_LIMIT="3/minute").test_client()
    pid = project(client, admin)["id"]
    assert [_login(client, "a", pid).status_code for _ in range(3)] == [200, 200, 200]
    refused = _login(client, "a", pid)
    assert refused.status_code == 429
    body = refused.json
    assert body["success"] is False and isinstance(body["error"], str) and body["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1 and refused.headers["X-RateLimit-Remaining"] == "0"
    assert _login(client, "a", str(uuid.uuid4())).status_code == 429      # guesses too
    assert _login(client, "a", pid, ip="10.1.2.3").status_code == 200     # another address
    assert ok(client.get("/api/projects", headers=admin))                 # other routes unaffected


def test_the_default_login_budget_is_ten_a_minute(make_app, admin):
    client = make_app().test_client()
    codes = [_login(client, "a", str(uuid.uuid4())).status_code for _ in range(11)]
    assert codes == [404] * 10 + [429]


def test_an_unknown_project_answers_like_the_documents_error(client):
    other = str(uuid.uuid4())
    resp = _login(client, "a", other)
    assert resp.status_code == 404
    assert set(resp.json) >= {"success", "error", "timestamp", "correlationId"}
    assert resp.json["success"] is False and isinstance(resp.json["error"], str)


# -- credentials limited to agents and projects -------------------------------------------
def _key(r, prefix, **limits):
    key, _ = create_api_key(r, ApiKeys(prefix), "bot", ["agents:write"], **limits)
    return {"Authorization": f"ApiKey {key}"}


def test_a_limited_key_logs_in_only_as_its_agents_in_its_projects(make_app, admin, r, prefix):
    client = make_app(TASKQ_TASKDRIVER_LOGIN="credential").test_client()
    a = project(client, admin, name="alpha")["id"]
    b = project(client, admin, name="beta")["id"]
    limited = _key(r, prefix, agents=["bot-1"], projects=[a])
    assert _login(client, "bot-1", a).status_code == 401                       # credential mode
    assert ok(_login(client, "bot-1", a, limited))["agentName"] == "bot-1"
    assert ok(_login(client, "bot-1", a.upper(), limited))["projectId"] == a
    other_agent = _login(client, "bot-2", a, limited)
    other_project = _login(client, "bot-1", b, limited)
    missing = _login(client, "bot-1", str(uuid.uuid4()), limited)
    assert (other_agent.status_code, other_project.status_code, missing.status_code) == (403, 403, 403)
    assert other_project.json["error"] == missing.json["error"]    # existence is not revealed
    assert b not in other_project.get_data(as_text=True)
    assert ok(_login(client, "anyone", b, _key(r, prefix)))                    # unlimited key


def test_limited_jwt_claims_hold_at_login(make_app, admin):
    client = make_app(TASKQ_TASKDRIVER_LOGIN="credential").test_client()
    a = project(client, admin, name="alpha")["id"]
    token = bearer("agents:write", agents=["bot-1"], projects=[a])
    assert _login(client, "bot-1", a, token).status_code == 200
    assert _login(client, "bot-9", a, token).status_code == 403
    assert _login(client, "bot-1", a, bearer("agents:write", projects=[str(uuid.uuid4())])).status_code == 403
    malformed = jwt.encode({"sub": "x", "exp": 4102444800, "scopes": ["agents:write"], "agents": 7},
                           SECRET, algorithm="HS256")
    assert _login(client, "bot-1", a, {"Authorization": f"Bearer {malformed}"}).status_code == 403


def test_a_limited_key_in_open_mode_keeps_its_limits(client, admin, r, prefix):
    a = project(client, admin, name="alpha")["id"]
    assert _login(client, "bot-2", a, _key(r, prefix, agents=["bot-1"])).status_code == 403
    assert _login(client, "bot-2", a).status_code == 200                    # the document's flow


def test_a_limited_key_acts_on_agent_routes_only_within_its_limits(client, admin, two, r, prefix):
    (a, a_tasks), (b, b_tasks) = two
    limited = _key(r, prefix, agents=["bot-1"], projects=[a])
    assert next_task(client, limited, "bot-1", a)["success"] is True
    for agent, pid in (("bot-2", a), ("bot-1", b)):
        resp = client.post(f"/api/agents/{agent}/next-task", json={"projectId": pid}, headers=limited)
        assert resp.status_code == 403, (agent, pid)
    # a task of project b, leased to bot-1 by an unlimited key: the limited key may not touch it
    b_task = next_task(client, _key(r, prefix), "bot-1", b)["data"]["id"]
    assert b_task in b_tasks
    for action, body in (("complete", {"result": "x"}), ("fail", {"error": "x", "canRetry": False}),
                         ("extend-lease", {"extensionMinutes": 1})):
        resp = client.post(f"/api/tasks/{b_task}/{action}", json={"agentName": "bot-1", **body},
                           headers=limited)
        assert resp.status_code == 403, action
    a_task = next_task(client, limited, "bot-1", a)["data"]["id"]
    done = client.post(f"/api/tasks/{a_task}/complete", json={"agentName": "bot-1", "result": "ok"},
                       headers=limited)
    assert ok(done)["status"] == "completed"


def test_a_session_from_a_limited_login_stays_in_its_project(make_app, admin, r, prefix):
    client = make_app(TASKQ_TASKDRIVER_LOGIN="credential").test_client()
    a = project(client, admin, name="alpha")["id"]
    b = project(client, admin, name="beta")["id"]
    session = login(client, "bot-1", a, _key(r, prefix, agents=["bot-1"], projects=[a]))
    resp = client.post("/api/agents/bot-1/next-task", json={"projectId": b}, headers=session)
    assert resp.status_code == 403


# -- start-up line ------------------------------------------------------------------
def test_the_start_up_log_says_which_login_mode_is_on(make_app, caplog):
    with caplog.at_level(logging.INFO, logger="taskq.api.startup"):
        make_app()
        make_app(TASKQ_TASKDRIVER_LOGIN="credential")
    lines = [r.getMessage() for r in caplog.records if r.name == "taskq.api.startup"]
    assert len(lines) == 2
    assert "open" in lines[0] and "anyone holding a project id can act as any of its agents" in lines[0]
    assert "credential" in lines[1] and "agents:write" in lines[1]
