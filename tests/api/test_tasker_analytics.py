"""GET /tasker/analytics/performance and /bottlenecks: the document's shapes
from real counts, permissions, bad parameters, the shared cache's lifetime
(time moved by the test), and 503 when Redis cannot be reached."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import redis
from apihelpers import bearer
from redis.backoff import NoBackoff
from redis.retry import Retry

import api.dialects.tasker.routes_analytics as routes
from taskq.keys import WorkflowKeys
from taskq.workflows import create
from taskq.workflows.outcomes import record_step, redis_ms
from taskq.workflows.sweep import sweep

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from workflow_drive import complete, fail, registry  # noqa: E402

PERF = "/tasker/analytics/performance"
BOTTLENECKS = "/tasker/analytics/bottlenecks"


@pytest.fixture
def clock(monkeypatch, r):
    """The routes' clock, starting at Redis's now; move it with clock.now += s."""
    class Clock:
        now = redis_ms(r) / 1000

        def __call__(self):
            return self.now
    c = Clock()
    monkeypatch.setattr(routes, "clock", c)
    return c


def finish(r, prefix, n_complete, n_error):
    reg = registry()
    for i in range(n_complete + n_error):
        wf = create(r, "shop.pay", registry=reg, prefix=prefix)
        if i < n_complete:
            complete(r, prefix, wf)
        else:
            fail(r, prefix, wf, "charge")
    sweep(r, prefix)


def test_performance_has_the_documents_shape_and_real_counts(client, r, prefix, clock):
    finish(r, prefix, 3, 1)
    resp = client.get(PERF, headers=bearer("tasker.analytics:performance"))
    assert resp.status_code == 200
    doc = resp.json
    assert set(doc) >= {"system_health_score", "performance_trends", "task_statistics",
                        "processing_times"}
    assert set(doc["performance_trends"]) == {"1h", "4h", "24h"}
    assert doc["task_statistics"] == {"total_tasks": 4, "completed": 3, "failed": 1, "retried": 0,
                                      "cancelled": 0}
    assert doc["performance_trends"]["24h"]["completion_rate"] == 0.75
    assert doc["system_health_score"] == 75.0 and doc["data_available"] is True
    assert set(doc["processing_times"]) == {"p50", "p95", "p99"}


def test_bottlenecks_scope_and_period(client, r, prefix, clock):
    finish(r, prefix, 2, 0)
    wf = create(r, "shop.pay", registry=registry(), prefix=prefix)
    record_step(r, WorkflowKeys(prefix), wf["id"], "charge", 1,
                redis_ms(r), 2500, "NetworkTimeoutError", None)
    resp = client.get(f"{BOTTLENECKS}?namespace=shop&period=24",
                      headers=bearer("tasker.analytics:bottlenecks"))
    assert resp.status_code == 200
    doc = resp.json
    assert doc["analysis_period"] == "24 hours" and doc["scope"] == {"namespace": "shop"}
    assert doc["slowest_tasks"][0]["task_name"] == "pay"
    assert doc["slowest_tasks"][0]["execution_count"] == 2
    assert doc["slowest_steps"][0]["step_name"] == "charge"
    assert doc["slowest_steps"][0]["avg_duration_ms"] == 2500
    assert doc["error_patterns"] == [{"error_type": "NetworkTimeoutError", "frequency": 1,
                                      "affected_steps": ["charge"]}]
    other = client.get(f"{BOTTLENECKS}?namespace=back", headers=bearer("tasker.analytics:*")).json
    assert other["data_available"] is False and other["slowest_tasks"] == []


@pytest.mark.parametrize("query, field", [
    ("period=0", "period"), ("period=169", "period"), ("period=abc", "period"),
    ("period=" + "9" * 400, "period"), ("period=1.5", "period"), ("namespace=Bad%20Name", "namespace"),
    ("version=1.0", "version"), ("name=%ED%A0%80", "name"), ("colour=red", "colour"),
])
def test_bad_parameters_are_422_in_taskers_shape(client, admin, query, field):
    resp = client.get(f"{BOTTLENECKS}?{query}", headers=admin)
    assert resp.status_code in (400, 422), resp.json
    assert set(resp.json) == {"error"} and resp.json["error"]["type"] in ("ValidationError", "BadRequest")
    if resp.status_code == 422:
        assert field in resp.json["error"]["message"]


def test_performance_refuses_parameters(client, admin):
    resp = client.get(f"{PERF}?period=24", headers=admin)
    assert resp.status_code == 422 and resp.json["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("url, permission", [(PERF, "tasker.analytics:performance"),
                                             (BOTTLENECKS, "tasker.analytics:bottlenecks")])
def test_credentials_and_permissions(client, url, permission):
    resp = client.get(url)
    assert resp.status_code == 401 and resp.json["error"]["code"] == "AUTHENTICATION_FAILED"
    resp = client.get(url, headers=bearer("tasker.task:index"))
    assert resp.status_code == 403 and resp.json["error"]["code"] == "AUTHORIZATION_FAILED"
    assert permission in resp.json["error"]["message"]
    assert client.get(url, headers=bearer(permission)).status_code == 200
    assert client.get(url, headers=bearer("tasker.*")).status_code == 200


@pytest.mark.parametrize("url, ttl", [(PERF, 90), (f"{BOTTLENECKS}?period=24", 120)])
def test_answers_are_cached_for_the_documents_time(client, admin, r, prefix, clock, url, ttl):
    first = client.get(url, headers=admin).json
    finish(r, prefix, 1, 0)  # new data...
    clock.now += ttl - 1
    assert client.get(url, headers=admin).json == first  # ...not seen while the answer is fresh
    clock.now += 2
    fresh = client.get(url, headers=admin).json
    assert fresh != first and fresh["data_available"] is True


def test_the_cache_is_per_query_and_shared_by_every_web_process(make_app, admin, r, prefix, clock):
    one, two = make_app().test_client(), make_app().test_client()
    a = one.get(f"{BOTTLENECKS}?period=24", headers=admin).json
    finish(r, prefix, 1, 0)
    assert two.get(f"{BOTTLENECKS}?period=24", headers=admin).json == a  # the other process's answer
    assert two.get(f"{BOTTLENECKS}?period=12", headers=admin).json["data_available"] is True


def test_redis_down_is_503(make_app, admin):
    down = redis.Redis(port=1, decode_responses=True, socket_connect_timeout=0.5,
                       retry=Retry(NoBackoff(), 0))
    client = make_app(REDIS=down).test_client()
    for url in (PERF, BOTTLENECKS):
        resp = client.get(url, headers=admin)
        assert resp.status_code == 503
        assert resp.json["error"]["type"] == "ServiceUnavailable"
