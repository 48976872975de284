"""What every response shares: rate limits, correlation ids, CORS and
security headers, version negotiation, error bodies, docs and metrics."""

from __future__ import annotations

import time

from apihelpers import bearer


def test_rate_limit_headers_and_429_per_token(make_app):
    client = make_app(TASKQ_RATE_LIMIT="3/60").test_client()
    alice, bob = bearer("tasks:read", sub="alice"), bearer("tasks:read", sub="bob")
    seen = []
    for _ in range(3):
        resp = client.get("/api/tasks", headers=alice)
        assert resp.status_code == 200
        seen.append(int(resp.headers["X-RateLimit-Remaining"]))
        assert resp.headers["X-RateLimit-Limit"] == "3"
        assert int(resp.headers["X-RateLimit-Reset"]) > time.time()
    assert seen == [2, 1, 0]
    resp = client.get("/api/tasks", headers=alice)
    assert resp.status_code == 429 and resp.json["error"]["code"] == "rate_limited"
    assert resp.headers["X-RateLimit-Remaining"] == "0" and int(resp.headers["Retry-After"]) >= 1
    assert client.get("/api/tasks", headers=bob).status_code == 200   # counted apart


def test_rate_limit_is_shared_by_apps_on_one_redis(make_app):
    a = make_app(TASKQ_RATE_LIMIT="2/60").test_client()
    b = make_app(TASKQ_RATE_LIMIT="2/60").test_client()   # another gunicorn worker, say
    h = bearer("tasks:read", sub="shared")
    assert a.get("/api/tasks", headers=h).status_code == 200
    assert b.get("/api/tasks", headers=h).status_code == 200
    assert a.get("/api/tasks", headers=h).status_code == 429


def test_rate_limit_per_ip_for_anonymous_calls_and_per_token_override(make_app):
    client = make_app(TASKQ_RATE_LIMIT="100/60", TASKQ_RATE_LIMIT_IP="2/60").test_client()
    assert [client.get("/api/tasks").status_code for _ in range(3)] == [401, 401, 429]
    other_ip = client.get("/api/tasks", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other_ip.status_code == 401
    h = bearer("tasks:read", sub="vip", rate_limit="1/60")
    assert [client.get("/api/tasks", headers=h).status_code for _ in range(2)] == [200, 429]


def test_health_is_not_rate_limited(make_app):
    client = make_app(TASKQ_RATE_LIMIT="1/60", TASKQ_RATE_LIMIT_IP="1/60").test_client()
    assert all(client.get("/api/health").status_code == 200 for _ in range(3))


def test_correlation_ids(client, admin):
    resp = client.get("/api/tasks", headers={**admin, "X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == resp.headers["X-Correlation-ID"] == "abc-123"
    resp = client.get("/api/tasks/dts:nope", headers={**admin, "X-Correlation-ID": "corr-9"})
    assert resp.headers["X-Correlation-ID"] == "corr-9" and resp.json["correlationId"] == "corr-9"
    fresh = client.get("/api/tasks/dts:nope", headers=admin)
    assert fresh.json["correlationId"] == fresh.headers["X-Request-ID"] and fresh.json["correlationId"]
    evil = client.get("/api/tasks", headers={**admin, "X-Request-ID": "bad id\twith spaces"})
    assert evil.headers["X-Request-ID"] != "bad id\twith spaces"


def test_security_headers(client, admin):
    resp = client.get("/api/tasks", headers=admin)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-XSS-Protection"] == "1; mode=block"
    assert "Strict-Transport-Security" not in resp.headers
    secure = client.get("/api/tasks", headers=admin, base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_hsts_behind_a_trusted_proxy(make_app, admin):
    client = make_app(TASKQ_TRUSTED_PROXIES=1).test_client()
    resp = client.get("/api/health", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" in resp.headers


def test_cors(client, admin):
    ok = client.get("/api/tasks", headers={**admin, "Origin": "https://ui.example.com"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://ui.example.com"
    assert "X-RateLimit-Remaining" in ok.headers["Access-Control-Expose-Headers"]
    other = client.get("/api/tasks", headers={**admin, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    pre = client.options("/api/tasks", headers={"Origin": "https://ui.example.com",
                                                 "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "Authorization, Content-Type"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "https://ui.example.com"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]


def test_cors_wildcard(make_app, admin):
    client = make_app(TASKQ_CORS_ORIGINS="*").test_client()
    resp = client.get("/api/tasks", headers={**admin, "Origin": "https://any.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


def test_version_negotiation(client, admin):
    for accept in ("application/json; version=1.0", "application/json;version=1", "application/json",
                   "*/*", "text/html, application/json; version=1.0"):
        resp = client.get("/api/tasks", headers={**admin, "Accept": accept})
        assert resp.status_code == 200, accept
        assert resp.headers["X-API-Version"] == "1.0"
    resp = client.get("/api/tasks", headers={**admin, "Accept": "application/json; version=2.0"})
    assert resp.status_code == 406 and resp.json["error"]["code"] == "unsupported_version"
    assert resp.json["error"]["details"] == {"requested": ["2.0"], "supported": ["1.0"]}


def test_unknown_routes_and_methods(client, admin):
    resp = client.get("/api/nothing-here", headers=admin)
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
    resp = client.patch("/api/tasks", headers=admin)
    assert resp.status_code == 405 and "GET" in resp.headers["Allow"]
    resp = client.post("/api/tasks", data="x" * (2 << 20), headers={**admin, "Content-Type": "application/json"})
    assert resp.status_code == 413


def test_envelope_on_success(client, admin):
    body = client.get("/api/tasks", headers=admin).json
    assert list(body) == ["success", "data", "meta"] and body["success"] is True


def test_openapi_document_and_local_swagger_ui(client):
    spec = client.get("/api/docs.json").json
    assert spec["openapi"].startswith("3.")
    assert {"bearerAuth", "apiKeyAuth"} <= set(spec["components"]["securitySchemes"])
    post = spec["paths"]["/api/tasks"]["post"]
    assert "201" in post["responses"] and "422" in post["responses"] and post["security"]
    assert "TaskCreate" in spec["components"]["schemas"]
    ui = client.get("/api/docs").get_data(as_text=True)
    assert "/api/docs/static/swagger-ui-bundle.js" in ui and "//cdn" not in ui and "unpkg" not in ui
    assert client.get("/api/docs/static/swagger-ui-bundle.js").status_code == 200
    assert client.get("/api/docs/static/swagger-ui.css").status_code == 200


def test_health_reports_redis(client):
    body = client.get("/health").json
    assert body["success"] is True and body["data"]["status"] == "healthy"
    assert body["data"]["storage"] == {"healthy": True, "provider": "redis"}


def test_health_when_redis_is_down(make_app):
    import redis
    dead = redis.Redis(host="127.0.0.1", port=1, decode_responses=True, socket_connect_timeout=0.2)
    resp = make_app(REDIS=dead).test_client().get("/health")
    assert resp.status_code == 503 and resp.json["data"]["status"] == "unhealthy"


def test_prometheus_metrics(client, admin, dts):
    client.post("/api/tasks", json={"name": "a", "command": "true"}, headers=admin)
    client.post("/api/tasks", json={"name": "b", "command": "true"}, headers=admin)
    [lease] = dts.claim(lease=0.001)
    time.sleep(0.01)
    dts.reap()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'taskq_queue_depth{queue="dts"} 2.0' in text
    assert 'taskq_tasks{queue="dts",status="queued"} 2.0' in text
    assert 'taskq_lease_expiries_total{queue="dts"} 1.0' in text
    assert 'taskq_workers{status="active"}' in text and "taskq_redis_up 1.0" in text
    assert "flask_http_request_total" in text
    assert 'url_rule="/api/tasks"' in text and "dts:" not in text.split("taskq_redis_up")[0]
