"""DTS workers and system views, fed by the engine's registry and counters."""

from __future__ import annotations

import time

from taskq.worker_registry import WorkerRegistry


def test_workers_list_get_and_tasks(client, admin, r, keys, dts):
    reg = WorkerRegistry(r, keys)
    reg.register("worker-001", ["dts"], tags=["general"], version="1.0.0")
    reg.register("worker-002", ["dts"])
    t1 = dts.enqueue_call(None, meta={"name": "Example Task 1"}, priority=5)
    t2 = dts.enqueue_call(None, meta={"name": "Example Task 2"}, priority=8)
    leases = dts.claim(n=2, worker="worker-001")
    reg.heartbeat("worker-001", [x.id for x in leases], completed=42, failed=3)

    lst = client.get("/api/workers", headers=admin).json
    assert lst["meta"] == {"page": 1, "limit": 20, "total": 2, "pages": 1}
    w = next(x for x in lst["data"] if x["id"] == "worker-001")
    assert w["status"] == "active" and w["current_tasks"] == 2 and w["tasks_completed"] == 42
    assert w["tasks_failed"] == 3 and w["version"] == "1.0.0" and w["tags"] == ["general"]
    assert w["last_heartbeat"].endswith("Z") and w["registered_at"].endswith("Z") and w["hostname"]
    idle = client.get("/api/workers?status=idle", headers=admin).json
    assert [x["id"] for x in idle["data"]] == ["worker-002"]
    paged = client.get("/api/workers?limit=1&page=2", headers=admin).json
    assert len(paged["data"]) == 1 and paged["meta"]["pages"] == 2

    one = client.get("/api/workers/worker-001", headers=admin).json["data"]
    assert sorted(one["current_task_ids"]) == sorted([t1.id, t2.id])
    assert set(one["resources"]) == {"cpu_usage", "memory_usage", "disk_usage"}
    assert client.get("/api/workers/nope", headers=admin).status_code == 404

    leases[0].complete("done")
    tasks = client.get("/api/workers/worker-001/tasks", headers=admin).json
    assert tasks["meta"]["total"] == 2
    assert leases[0].id == t2.id  # the higher priority is claimed first
    assert {(x["name"], x["status"]) for x in tasks["data"]} == {
        ("Example Task 1", "running"), ("Example Task 2", "completed")}
    row = tasks["data"][0]
    assert set(row) >= {"id", "name", "status", "started_at", "priority"}
    running = client.get("/api/workers/worker-001/tasks?status=running", headers=admin).json
    assert running["meta"]["total"] == 1 and running["data"][0]["status"] == "running"
    assert client.get("/api/workers/nope/tasks", headers=admin).status_code == 404
    assert client.get("/api/workers?status=busy", headers=admin).status_code == 422


def test_system_status(client, admin, r, keys, dts, make_queue):
    WorkerRegistry(r, keys).register("w1", ["dts"])
    for p in (9, 9, 5, 1):
        dts.enqueue_call(None, priority=p)
    dts.enqueue_call(None, delay=3600)
    done = dts.enqueue_call(None, priority=10)
    [lease] = dts.claim()
    assert lease.id == done.id
    lease.complete("ok")
    other = make_queue("other")
    other.enqueue_call(None, max_retries=0)
    [lf] = other.claim()
    lf.fail("boom")
    other.enqueue_call(None)

    data = client.get("/api/system/status", headers=admin).json["data"]
    assert data["status"] in ("healthy", "degraded") and data["version"]
    assert data["task_stats"] == {"pending": 6, "running": 0, "completed_today": 1, "failed_today": 1}
    assert data["queue_depths"] == {"high_priority": 2, "normal_priority": 1, "low_priority": 2}
    comp = data["components"]
    assert set(comp) == {"api_server", "scheduler", "workers", "database", "redis"}
    assert comp["workers"]["idle_count"] == 1 and comp["api_server"]["instance_count"] >= 1
    assert comp["redis"]["status"] == "healthy" and 0 <= comp["redis"]["memory_usage"] <= 1
    assert "leader_id" in comp["scheduler"] and isinstance(data["uptime"], int)


def test_system_metrics_from_series(client, admin, dts):
    for _ in range(3):
        dts.enqueue_call(None)
    leases = dts.claim(n=3)
    time.sleep(0.02)
    leases[0].complete(1)
    leases[1].complete(2)
    leases[2].fail("x", retryable=False)

    body = client.get("/api/system/metrics?period=hour", headers=admin).json
    data, meta = body["data"], body["meta"]
    assert set(data) == {"task_completion_rate", "error_rate", "average_execution_time"}
    assert len(data["task_completion_rate"]) == 60 and meta["period"] == "hour"
    assert meta["start_time"] == data["error_rate"][0]["timestamp"]
    assert meta["end_time"] == data["error_rate"][-1]["timestamp"]
    last_c = [p["value"] for p in data["task_completion_rate"]][-2:]
    last_e = [p["value"] for p in data["error_rate"]][-2:]
    assert sum(last_c) == 2 and any(abs(e - 1 / 3) < 0.001 for e in last_e)
    assert any(p["value"] > 0 for p in data["average_execution_time"][-2:])

    day = client.get("/api/system/metrics?period=day&metrics=task_completion_rate", headers=admin).json
    assert list(day["data"]) == ["task_completion_rate"] and len(day["data"]["task_completion_rate"]) == 24
    assert day["data"]["task_completion_rate"][-1]["value"] == 2
    assert day["meta"]["interval_seconds"] == 3600
    for period, n in (("week", 7), ("month", 30)):
        got = client.get(f"/api/system/metrics?period={period}", headers=admin).json["data"]
        assert len(got["error_rate"]) == n and got["task_completion_rate"][-1]["value"] == 2
    assert client.get("/api/system/metrics?period=year", headers=admin).status_code == 422
    bad = client.get("/api/system/metrics?metrics=cpu", headers=admin)
    assert bad.status_code == 422 and "metrics" in bad.json["error"]["details"]["fields"]


def test_tasks_parked_behind_a_full_concurrency_key_are_in_no_priority_band(client, admin, dts):
    for _ in range(3):  # one runs, two wait parked behind the key's single slot
        dts.enqueue_call(None, priority=2, concurrency_key="k", concurrency_limit=1)
    assert len(dts.claim(n=3)) == 1  # the claim parks the two it cannot take
    data = client.get("/api/system/status", headers=admin).json["data"]
    assert data["queue_depths"] == {"high_priority": 0, "normal_priority": 0, "low_priority": 0}
    assert data["task_stats"]["pending"] == 2 and data["task_stats"]["running"] == 1


def test_status_uptime_is_this_process_s_not_a_previous_run_s(client, admin, app, r):
    # A previous API process with the same instance id, started long ago and
    # seen moments ago (its heartbeat outlives a restart by up to a minute).
    st = app.extensions["taskq"]
    r.zadd(st.api_keys.instances, {"old-run": int(time.time() * 1000)})
    r.hset(f"{st.keys.prefix}:api:started", "old-run", int(time.time() - 121))  # as older versions kept
    st.started = time.time() - 2
    st.system.started = st.started
    data = client.get("/api/system/status", headers=admin).json["data"]
    health = client.get("/health").json["data"]
    assert data["uptime"] <= 5 and abs(data["uptime"] - health["uptime"]) <= 1


def test_openapi_documents_metrics_json_and_keeps_placeholders(client):
    spec = client.get("/api/docs.json").json
    assert "/metrics/json" in spec["paths"] and "get" in spec["paths"]["/metrics/json"]
    described = spec["info"]["description"]
    assert "`Authorization: Bearer <JWT>`" in described and "`Authorization: ApiKey <key>`" in described
