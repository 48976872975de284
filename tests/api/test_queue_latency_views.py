"""Queue latency and served (taskq.monitoring.latency) on every HTTP surface: /metrics,
the DTS system status and its OpenAPI schema, the dashboard's queue list and
queue page."""

from __future__ import annotations

import re

import pytest
from dashboard_client import login

from taskq.worker_registry import WorkerRegistry


def _backdate(r, keys, queue: str, task_id: str, seconds: int) -> None:
    s, us = r.time()
    r.hset(keys.queue(queue).task(task_id), "created", s * 1000 + us // 1000 - seconds * 1000)


@pytest.fixture
def waiting(r, keys, make_queue):
    """'emails' holds a task ready 300 s ago and no worker; 'reports' is empty
    and served by a live worker."""
    task = make_queue("emails").enqueue("app:mail")
    _backdate(r, keys, "emails", task.id, 300)
    make_queue("reports")
    r.sadd(keys.queues, "reports")
    WorkerRegistry(r, keys).register("w-reports", ["reports"])
    return task


def test_metrics_have_latency_and_served_per_queue(client, waiting):
    text = client.get("/metrics").get_data(as_text=True)
    late = re.search(r'^taskq_queue_latency_seconds\{queue="emails"\} (\S+)$', text, re.M)
    assert late and 299 < float(late.group(1)) < 320
    assert 'taskq_queue_latency_seconds{queue="reports"} 0.0' in text
    assert 'taskq_queue_served{queue="emails"} 0.0' in text
    assert 'taskq_queue_served{queue="reports"} 1.0' in text


def test_system_status_lists_latency_and_its_schema_says_so(client, admin, waiting):
    data = client.get("/api/system/status", headers=admin).json["data"]
    rows = {row["queue"]: row for row in data["queue_latency"]}
    assert rows["emails"]["served"] is False and 299 < rows["emails"]["latency_seconds"] < 320
    assert rows["reports"] == {"queue": "reports", "latency_seconds": 0.0, "served": True}
    assert data["max_queue_latency_seconds"] == rows["emails"]["latency_seconds"]
    spec = client.get("/api/docs.json").json
    schemas = spec["components"]["schemas"]
    status = next(s for name, s in schemas.items() if name.startswith("SystemStatus"))
    assert {"queue_latency", "max_queue_latency_seconds"} <= set(status["properties"])
    item = next(s for name, s in schemas.items() if name.startswith("QueueLatency"))
    assert set(item["properties"]) == {"queue", "latency_seconds", "served"}


def test_dashboard_queue_list_and_page_show_latency_and_no_worker(client, waiting):
    login(client, "dashboard")
    html = client.get("/dashboard/queues").get_data(as_text=True)
    row = re.search(r'<tr data-queue="emails">.*?</tr>', html, re.S).group(0)
    assert "data-unserved" in row and re.search(r'data-latency="3\d\d\.\d+"[^>]*>5m \d+s<', row)
    served = re.search(r'<tr data-queue="reports">.*?</tr>', html, re.S).group(0)
    assert "data-unserved" not in served and '>0s<' in served
    data = client.get("/dashboard/data/queues").get_json()["data"]
    emails = next(q for q in data["queues"] if q["name"] == "emails")
    assert emails["served"] is False and emails["latency_seconds"] > 299

    page = client.get("/dashboard/queues/emails").get_data(as_text=True)
    state = re.search(r'id="queue-state"[^>]*>([^<]+)<', page).group(1)
    assert state == "no worker"  # not "running" while nobody serves it
    assert re.search(r'id="queue-latency">latency <span[^>]*data-latency="3\d\d', page)
    page = client.get("/dashboard/queues/reports").get_data(as_text=True)
    assert re.search(r'id="queue-state"[^>]*>running<', page)


def test_a_project_queue_drained_by_http_agents_reads_served(client, admin, r, keys):
    """TaskDriver agents never register as workers; their next-task calls
    mark the project's queue served for latency.POLL_SERVES seconds, and a
    lease an agent holds there keeps it served while it lives."""
    from test_taskdriver_support import login as agent_login, next_task, plain_tasks, plain_type, project

    from taskq.monitoring.latency import POLL_SERVES, queue_latency
    from taskq.projects.store import queue_name

    p = project(client, admin, "latency-agents")
    plain_tasks(client, admin, p["id"], plain_type(client, admin, p["id"])["id"], 2)
    queue = queue_name(p["id"])
    assert queue_latency(r, keys, [queue])[queue]["served"] is False
    next_task(client, agent_login(client, "agent-1", p["id"]), "agent-1")
    assert queue_latency(r, keys, [queue])[queue]["served"] is True
    assert 0 < r.ttl(keys.queue(queue).polled) <= POLL_SERVES
    r.delete(keys.queue(queue).polled)  # as when the TTL ran out: no call lately,
    assert queue_latency(r, keys, [queue])[queue]["served"] is True  # but the agent holds a lease
    r.zadd(keys.queue(queue).running, {m: 1 for m in r.zrange(keys.queue(queue).running, 0, -1)})
    assert queue_latency(r, keys, [queue])[queue]["served"] is False  # its lease ran out too
