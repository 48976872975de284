"""Who may call /tasker: 401 AUTHENTICATION_FAILED and 403
AUTHORIZATION_FAILED naming the permission on every credentialed route,
wildcards; health ready/live open even with a bad token; health status
behind its permission unless configured open; the per-IP rate limit; the
OpenAPI document covering every /tasker route, its Swagger UI; metrics."""

from __future__ import annotations

import re

import pytest
import redis as redis_lib
from apihelpers import bearer
from tasker_helpers import OPEN_ROUTES, ROUTES, error_of, examples  # noqa: F401  (fixture)

from api.auth import create_api_key

BAD = {"Authorization": "Bearer not-a-token"}


def _call(client, method, url, headers):
    body = {"retry_limit": 1} if method == "PATCH" else {"name": "x", "namespace": "y"} if method == "POST" else None
    return client.open(url, method=method, json=body, headers=headers)


@pytest.mark.parametrize("method, url, permission", ROUTES)
def test_every_route_needs_its_permission(client, method, url, permission):
    for headers in ({}, BAD, {"Authorization": "ApiKey tq_nope"}, bearer("admin", ttl=-10)):
        err = error_of(_call(client, method, url, headers), 401, "AUTHENTICATION_FAILED")
        assert err == {"type": "AuthenticationError", "message": "Invalid or expired authentication token",
                       "code": "AUTHENTICATION_FAILED"}
    others = [p for _, _, p in ROUTES if p != permission] + ["tasks:read", "tasks:write", "system:read"]
    err = error_of(_call(client, method, url, bearer(*others)), 403, "AUTHORIZATION_FAILED")
    assert err["type"] == "AuthorizationError"
    assert err["message"] == f"Insufficient permissions for {permission}"
    resource = permission.split(":")[0]
    for scopes in ((permission,), (resource + ":*",), ("tasker.*",), ("admin",)):
        resp = _call(client, method, url, bearer(*scopes))
        assert resp.status_code not in (401, 403), (scopes, resp.status_code, resp.json)


def test_an_api_key_with_a_permission_works(client, r, prefix, examples):
    from taskq.keys import ApiKeys

    key, _ = create_api_key(r, ApiKeys(prefix), "ci", ["tasker.handler:*"])
    assert client.get("/tasker/handlers/payments", headers={"Authorization": f"ApiKey {key}"}).status_code == 200
    error_of(client.get("/tasker/tasks", headers={"Authorization": f"ApiKey {key}"}), 403, "AUTHORIZATION_FAILED")


def test_health_ready_and_live_need_no_credential_and_ignore_a_bad_one(client):
    for headers in ({}, BAD, {"Authorization": "ApiKey tq_nope"}):
        ready = client.get("/tasker/health/ready", headers=headers)
        assert ready.status_code == 200 and ready.json["ready"] is True
        assert ready.json["checks"]["redis"]["status"] == "healthy"
        live = client.get("/tasker/health/live", headers=headers)
        assert live.status_code == 200 and live.json["alive"] is True and live.json["status"] == "alive"


def test_ready_is_503_when_redis_does_not_answer(make_app):
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis_lib.Redis(host="127.0.0.1", port=1, decode_responses=True, socket_connect_timeout=0.5,
                           retry=Retry(NoBackoff(), 0))
    client = make_app(REDIS=dead).test_client()
    resp = client.get("/tasker/health/ready")
    assert resp.status_code == 503 and resp.json["ready"] is False and resp.json["status"] == "not_ready"
    assert resp.json["checks"]["redis"]["status"] == "unhealthy"
    assert client.get("/tasker/health/live").status_code == 200


def test_health_status_behind_its_permission_by_default(client, examples):
    error_of(client.get("/tasker/health/status"), 401, "AUTHENTICATION_FAILED")
    resp = client.get("/tasker/health/status", headers=bearer("tasker.health_status:index"))
    assert resp.status_code == 200
    d = resp.json
    assert d["status"] == "degraded"  # no worker serves the workflows queue
    assert d["redis"]["status"] == "healthy" and d["redis"]["version"]
    assert d["workers"] == {"online": 0, "serving_workflows": 0, "queue": "workflows"}
    assert d["handlers"] == {"published": 12, "namespaces": 3, "invalid": 0}
    assert d["workflows"]["total"] == 0


def test_health_status_counts_workers_and_tasks(client, admin, examples, r, prefix):
    from taskq.keys import Keys
    from taskq.worker_registry import WorkerRegistry
    from tasker_helpers import create

    reg = WorkerRegistry(r, Keys(prefix))
    reg.register("w1", ["workflows"])
    reg.register("w2", ["default"])
    create(client, admin)
    d = client.get("/tasker/health/status", headers=admin).json
    assert d["status"] == "healthy"
    assert d["workers"] == {"online": 2, "serving_workflows": 1, "queue": "workflows"}
    counts = {"pending": 1, "in_progress": 0, "complete": 0, "error": 0, "cancelled": 0}
    assert d["workflows"] == {"total": 1, "by_status": counts, "recent": 1, "recent_by_status": counts}


def test_health_status_open_when_configured(make_app):
    client = make_app(TASKQ_TASKER_HEALTH_STATUS_AUTH="false").test_client()
    for headers in ({}, BAD):
        resp = client.get("/tasker/health/status", headers=headers)
        assert resp.status_code == 200 and resp.json["redis"]["status"] == "healthy"


def test_health_status_auth_setting_is_checked_at_start(make_app):
    from api.config import ConfigError

    with pytest.raises(ConfigError, match="TASKQ_TASKER_HEALTH_STATUS_AUTH"):
        make_app(TASKQ_TASKER_HEALTH_STATUS_AUTH="maybe")


def test_rate_limit_per_ip_on_every_tasker_route(make_app, examples):
    client = make_app(TASKQ_TASKER_RATE_LIMIT="3/minute").test_client()
    admin = bearer("admin")
    for _ in range(3):
        resp = client.get("/tasker/handlers", headers=admin)
        assert resp.status_code == 200 and resp.headers["X-RateLimit-Limit"] == "3"
    # the budget is the address's, whoever calls: another token, no token, the docs
    for headers in (bearer("admin", sub="other"), {}):
        err = error_of(client.get("/tasker/handlers", headers=headers), 429, "RATE_LIMITED")
        assert err["type"] == "RateLimitExceeded" and "/tasker" in err["message"]
    resp = client.get("/tasker/api-docs.json")
    assert resp.status_code == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60
    # exempt: ready and live; elsewhere: only the caller's own budget
    assert client.get("/tasker/health/ready").status_code == 200
    assert client.get("/tasker/health/live").status_code == 200
    assert client.get("/api/tasks", headers=admin).status_code == 200


def test_rate_limit_off(make_app):
    client = make_app(TASKQ_TASKER_RATE_LIMIT="off").test_client()
    admin = bearer("admin")
    for _ in range(5):
        resp = client.get("/tasker/tasks", headers=admin)
        assert resp.status_code == 200 and resp.headers["X-RateLimit-Limit"] == "100000"


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_api_docs_json_lists_every_tasker_route(app, client):
    resp = client.get("/tasker/api-docs.json", headers=BAD)
    assert resp.status_code == 200
    doc = resp.json
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "taskq Tasker API"
    routes = {(_openapi_path(r.rule), m.lower()) for r in app.url_map.iter_rules()
              if r.rule.startswith("/tasker") for m in r.methods - {"HEAD", "OPTIONS"}}
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    assert routes == documented and len(routes) >= 16
    assert all(p.startswith("/tasker") for p in doc["paths"])
    # complete: every reference resolves inside the document; errors are Tasker's
    text = resp.get_data(as_text=True)
    for kind, name in set(re.findall(r'"#/components/([^/"]+)/([^"]+)"', text)):
        assert name in doc["components"][kind], (kind, name)
    assert "Error" not in doc["components"]["schemas"] and "TaskerError" in doc["components"]["schemas"]
    assert set(doc["components"]["securitySchemes"]) == {"bearerAuth", "apiKeyAuth"}
    ops = doc["paths"]
    assert ops["/tasker/health/ready"]["get"]["security"] == []
    assert ops["/tasker/handlers"]["get"]["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]


def test_swagger_ui_is_served_locally(client):
    resp = client.get("/tasker/api-docs", headers=BAD)
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert "/tasker/api-docs.json" in page and "https://" not in page and "http://" not in page
    for asset in re.findall(r'(?:href|src)="([^"]+)"', page):
        assert asset.startswith("/api/docs/static/"), asset
        assert client.get(asset).status_code == 200


def test_metrics_are_prometheus_text(client, examples):
    error_of(client.get("/tasker/metrics"), 401, "AUTHENTICATION_FAILED")
    resp = client.get("/tasker/metrics", headers=bearer("tasker.metrics:index"))
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    assert "# TYPE taskq_redis_up gauge" in text and "taskq_redis_up 1.0" in text
    assert "flask_http_request_duration_seconds" in text


def test_metrics_off_is_404(make_app):
    client = make_app(TASKQ_METRICS=False).test_client()
    error_of(client.get("/tasker/metrics", headers=bearer("admin")), 404, "METRICS_DISABLED")
