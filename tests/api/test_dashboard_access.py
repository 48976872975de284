"""Who gets into the dashboard and what they may do: login with an API key
or a JWT, the session cookie's flags, redirects and 401s without a session,
read-only scope, CSRF on every action, logout, revoked keys, rate limits."""

from __future__ import annotations

import re

import pytest
from apihelpers import SECRET
from dashboard_client import act, form_token, login

from api.auth import create_api_key, mint_token, revoke_api_key
from taskq.keys import ApiKeys, DashboardKeys

PAGES = ["/dashboard/", "/dashboard/queues", "/dashboard/workers", "/dashboard/schedules",
         "/dashboard/workflows", "/dashboard/projects"]


def test_pages_without_a_session_send_the_browser_to_the_login_form(client):
    for path in PAGES + ["/dashboard/queues/default?status=failed"]:
        resp = client.get(path)
        assert resp.status_code == 302, path
        assert resp.headers["Location"].startswith("/dashboard/login?next=")
    page = client.get("/dashboard/login")
    assert page.status_code == 200 and 'name="credential"' in page.get_data(as_text=True)


def test_data_endpoints_and_actions_without_a_session_answer_401_json(client, q):
    t = q.enqueue("app:job")
    for path in ["/dashboard/data/", "/dashboard/data/queues", f"/dashboard/data/tasks/{t.id}"]:
        resp = client.get(path)
        assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "auth_required"
    resp = client.post(f"/dashboard/tasks/{t.id}/delete", data={"csrf_token": "x"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 401
    assert q.get(t.id) is not None


def test_an_authorization_header_is_not_a_dashboard_session(client, admin):
    """The API's Bearer path does not apply here: only the cookie counts."""
    assert client.get("/dashboard/data/", headers=admin).status_code == 401


def test_login_with_a_jwt_sets_a_strict_httponly_session_cookie(client, r, prefix):
    page = client.get("/dashboard/login")
    token = form_token(page.get_data(as_text=True))
    resp = client.post("/dashboard/login", data={
        "csrf_token": token, "next": "/dashboard/workers",
        "credential": mint_token(SECRET, "op", ["dashboard"], 600)})
    assert resp.status_code == 303 and resp.headers["Location"] == "/dashboard/workers"
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("taskq_dashboard="))
    flags = [f.strip().lower() for f in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/dashboard" in flags
    assert "secure" not in flags  # plain HTTP here
    value = cookie.split(";")[0].split("=", 1)[1]
    stored = list(r.scan_iter(f"{prefix}:dash:session:*"))
    assert len(stored) == 1 and value not in stored[0]  # Redis holds a hash of the token
    assert 0 < r.ttl(stored[0]) <= 600  # never longer than the JWT
    assert client.get("/dashboard/workers").status_code == 200


def test_the_cookie_is_secure_over_https(client):
    page = client.get("/dashboard/login", base_url="https://dash.example")
    resp = client.post("/dashboard/login", base_url="https://dash.example", data={
        "csrf_token": form_token(page.get_data(as_text=True)),
        "credential": mint_token(SECRET, "op", ["dashboard"], 600)})
    cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("taskq_dashboard="))
    assert "secure" in [f.strip().lower() for f in cookie.split(";")]


def test_login_with_an_api_key_and_the_session_ends_when_the_key_is_revoked(client, r, prefix):
    key, rec = create_api_key(r, ApiKeys(prefix), "ops", ["dashboard:read"])
    login(client, credential=key)
    assert client.get("/dashboard/queues").status_code == 200
    revoke_api_key(r, ApiKeys(prefix), rec["id"])
    assert client.get("/dashboard/queues").status_code == 302
    assert not list(r.scan_iter(f"{prefix}:dash:session:*"))


@pytest.mark.parametrize("credential, status, says", [
    ("", 401, "Paste"),
    ("not-a-token", 401, "Not accepted"),
    ("tq_" + "x" * 40, 401, "Not accepted"),
    ("tds_abc", 401, "TaskDriver"),
    ("x" * 9000, 401, "Paste"),
    ("caf\u00e9", 401, "Paste"),
])
def test_bad_credentials_are_refused_on_the_form(client, credential, status, says):
    page = client.get("/dashboard/login")
    resp = client.post("/dashboard/login", data={"csrf_token": form_token(page.get_data(as_text=True)),
                                                 "credential": credential})
    assert resp.status_code == status and says in resp.get_data(as_text=True)
    assert not any(c.startswith("taskq_dashboard=") for c in resp.headers.getlist("Set-Cookie"))


def test_expired_and_foreign_tokens_and_missing_scope_are_refused(client):
    page = client.get("/dashboard/login")
    token = form_token(page.get_data(as_text=True))
    for credential, status in ((mint_token(SECRET, "op", ["dashboard"], -10), 401),
                               (mint_token("another-secret-" + "0" * 30, "op", ["dashboard"]), 401),
                               (mint_token(SECRET, "op", ["tasks:read"], 600), 403)):
        resp = client.post("/dashboard/login", data={"csrf_token": token, "credential": credential})
        assert resp.status_code == status


def test_the_login_form_needs_its_own_csrf_token(client):
    client.get("/dashboard/login")
    resp = client.post("/dashboard/login", data={"csrf_token": "forged",
                                                 "credential": mint_token(SECRET, "op", ["admin"], 600)})
    assert resp.status_code == 403
    assert not any(c.startswith("taskq_dashboard=") for c in resp.headers.getlist("Set-Cookie"))


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/api/tasks",
                                    "/dashboard\\..\\x", "javascript:alert(1)"])
def test_next_never_leads_off_the_dashboard(client, target):
    page = client.get("/dashboard/login")
    resp = client.post("/dashboard/login", data={
        "csrf_token": form_token(page.get_data(as_text=True)), "next": target,
        "credential": mint_token(SECRET, "op", ["admin"], 600)})
    assert resp.status_code == 303 and resp.headers["Location"] == "/dashboard/"


def test_read_only_scope_sees_pages_without_buttons_and_cannot_act(client, q):
    t = q.enqueue("app:job")
    csrf = login(client, "dashboard:read")
    page = client.get(f"/dashboard/tasks/{t.id}").get_data(as_text=True)
    assert "read-only" in page and "/cancel" not in page and "/delete" not in page
    for path in (f"/dashboard/tasks/{t.id}/cancel", f"/dashboard/queues/{q.name}/pause",
                 f"/dashboard/tasks/{t.id}/delete"):
        resp = act(client, path, csrf)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "insufficient_scope"
    assert q.get(t.id).status == "queued" and not q.is_paused


@pytest.mark.parametrize("sent", [None, "", "wrong-token"])
def test_an_action_with_a_missing_or_wrong_csrf_token_is_403_and_changes_nothing(client, q, sent):
    t = q.enqueue("app:job")
    login(client, "dashboard")
    data = {} if sent is None else {"csrf_token": sent}
    for headers in ({"Accept": "application/json"}, {}):
        resp = client.post(f"/dashboard/tasks/{t.id}/cancel", data=data, headers=headers)
        assert resp.status_code == 403
        if headers:
            assert resp.get_json()["error"]["code"] == "csrf_failed"
        else:
            assert "csrf_failed" in resp.get_data(as_text=True)  # an HTML page for a plain form
    assert q.get(t.id).status == "queued"


def test_the_csrf_header_works_like_the_form_field(client, q):
    t = q.enqueue("app:job")
    csrf = login(client, "dashboard")
    resp = client.post(f"/dashboard/tasks/{t.id}/cancel", headers={"X-CSRF-Token": csrf,
                                                                    "Accept": "application/json"})
    assert resp.status_code == 200 and q.get(t.id).status == "cancelled"


def test_get_never_acts(client, q):
    t = q.enqueue("app:job")
    login(client, "admin")
    assert client.get(f"/dashboard/tasks/{t.id}/delete").status_code in (404, 405)
    assert q.get(t.id) is not None


def test_logout_ends_the_session(client, r, prefix):
    csrf = login(client, "dashboard")
    assert act(client, "/dashboard/logout", "bad").status_code == 403  # logout is an action too
    resp = act(client, "/dashboard/logout", csrf, json=False)
    assert resp.status_code == 303 and resp.headers["Location"] == "/dashboard/login"
    assert not list(r.scan_iter(f"{prefix}:dash:session:*"))
    assert client.get("/dashboard/").status_code == 302


def test_a_stolen_session_id_from_redis_is_not_a_cookie(client, r, prefix):
    login(client, "dashboard")
    [key] = r.scan_iter(f"{prefix}:dash:session:*")
    other = client.application.test_client()
    other.set_cookie("taskq_dashboard", key.rsplit(":", 1)[1], path="/dashboard")
    assert other.get("/dashboard/").status_code == 302


def test_pages_carry_a_strict_content_security_policy(client):
    login(client, "dashboard")
    for path in PAGES + ["/dashboard/login"]:
        resp = client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp, path
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
        assert resp.headers["Cache-Control"] == "no-store"
        html = resp.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), f"inline script on {path}"
        assert " style=" not in html and "<style" not in html, path
        assert "http://" not in html and "https://" not in html  # nothing from another host


def test_dashboard_sessions_have_their_own_rate_limit(make_app):
    app = make_app(TASKQ_DASHBOARD_RATE_LIMIT="5/minute")
    c = app.test_client()
    login(c, "dashboard")  # the landing page counted once
    codes = [c.get("/dashboard/data/").status_code for _ in range(6)]
    assert codes[:4] == [200] * 4 and codes[-1] == 429


def test_login_attempts_count_against_the_login_limit(make_app):
    app = make_app(TASKQ_LOGIN_RATE_LIMIT="3/minute")
    c = app.test_client()
    token = form_token(c.get("/dashboard/login").get_data(as_text=True))
    codes = [c.post("/dashboard/login", data={"csrf_token": token, "credential": "nope"}).status_code
             for _ in range(4)]
    assert codes == [401, 401, 401, 429]


def test_sessions_use_the_key_schema(prefix):
    assert DashboardKeys(prefix).session("ab") == f"{prefix}:dash:session:ab"


def test_static_files_need_no_session_and_spend_no_budget(make_app):
    c = make_app(TASKQ_RATE_LIMIT_IP="2/minute").test_client()
    for name, mime in (("dashboard.css", "text/css"), ("dashboard.js", "text/javascript"),
                       ("favicon.svg", "image/svg+xml")):
        for _ in range(3):
            resp = c.get(f"/dashboard/static/{name}")
            assert resp.status_code == 200 and resp.mimetype == mime, name
    assert c.get("/dashboard/static/../access.py").status_code == 404
    assert c.get("/dashboard/login").status_code == 200  # the IP budget is untouched
