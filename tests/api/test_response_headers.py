"""The headers every response gets (api.middleware.after) come once each,
whatever the answer (created, refused, rate limited, preflight), and never
replace what a route set itself (a longer Cache-Control)."""

from __future__ import annotations

from collections import Counter

from apihelpers import EXAMPLE_TASK, bearer

BODY = {k: v for k, v in EXAMPLE_TASK.items() if k != "scheduled_at"}
ONCE = ("X-Request-ID", "X-Correlation-ID", "X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection",
        "Referrer-Policy", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def _counts(resp) -> Counter:
    return Counter(k.lower() for k, _ in resp.headers.items())


def test_each_header_once_on_every_kind_of_answer(make_app, admin):
    client = make_app(TASKQ_RATE_LIMIT="6/60", TASKQ_RATE_LIMIT_IP="6/60").test_client()
    cors = {"Origin": "https://ui.example.com", "X-Request-ID": "req-abc"}
    answers = [client.post("/api/tasks", json=BODY, headers={**admin, **cors}),                  # 201
               client.get("/api/tasks", headers={"Authorization": "Bearer nope", **cors}),        # 401
               client.post("/api/tasks", json=BODY, headers={**bearer("tasks:read"), **cors}),    # 403
               client.get("/api/tasks/dts:missing", headers={**admin, **cors}),                   # 404
               client.post("/api/tasks", json={"name": ""}, headers={**admin, **cors}),           # 422
               client.get("/api/tasks", headers={**admin, "Accept": "application/json; version=9"})]  # 406
    for _ in range(6):                                                                         # spend it: 429
        answers.append(client.get("/api/tasks", headers={**admin, **cors}))
        if answers[-1].status_code == 429:
            break
    assert [a.status_code for a in answers][:6] == [201, 401, 403, 404, 422, 406]
    assert answers[-1].status_code == 429 and answers[-2].status_code == 200
    for resp in answers:
        counts = _counts(resp)
        rated = resp.status_code != 406                        # refused before any budget is counted
        assert all(counts[h.lower()] == (1 if rated or not h.startswith("X-RateLimit") else 0) for h in ONCE), \
            (resp.status_code, counts)
        assert counts["x-api-version"] == 1 and counts["cache-control"] == 1 and resp.headers["X-API-Version"] == "1.0"
    assert answers[0].headers["X-Request-ID"] == answers[0].headers["X-Correlation-ID"] == "req-abc"
    assert answers[0].headers["Access-Control-Allow-Origin"] == "https://ui.example.com"
    assert _counts(answers[0])["access-control-allow-origin"] == 1 and "Origin" in answers[0].headers["Vary"]
    assert answers[-1].headers["X-RateLimit-Remaining"] == "0" and answers[-1].headers["Retry-After"]
    preflight = client.options("/api/tasks", headers={**cors, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204 and all(_counts(preflight)[h.lower()] == 1 for h in ONCE[:6])


def test_a_routes_own_cache_control_is_kept(client):
    resp = client.get("/api/docs/static/swagger-ui.css")
    assert resp.status_code == 200 and _counts(resp)["cache-control"] <= 1
    assert resp.headers.get("Cache-Control") != "no-store"     # not a versioned answer: left as served
    health = client.get("/api/health")
    assert "X-API-Version" not in health.headers and _counts(health)["x-request-id"] == 1
