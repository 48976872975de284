"""Helpers shared by the Tasker tests (no tests here): the example handlers
published as a worker host publishes them, every /tasker route with the
permission it needs, and small request helpers."""

from __future__ import annotations

import pytest

from taskq import Queue
from taskq.workflows import WORKFLOW_QUEUE, Registry, publish
from taskq.workflows.examples import load_examples

TASK_ID = "00000000-0000-4000-8000-000000000000"
ROUTES = [
    ("GET", "/tasker/handlers", "tasker.handler:index"),
    ("GET", "/tasker/handlers/payments", "tasker.handler:index"),
    ("GET", "/tasker/handlers/payments/process_payment", "tasker.handler:show"),
    ("POST", "/tasker/tasks", "tasker.task:create"),
    ("GET", "/tasker/tasks", "tasker.task:index"),
    ("GET", f"/tasker/tasks/{TASK_ID}", "tasker.task:show"),
    ("GET", f"/tasker/tasks/{TASK_ID}/workflow_steps", "tasker.workflow_step:index"),
    ("GET", f"/tasker/tasks/{TASK_ID}/workflow_steps/charge_card", "tasker.workflow_step:show"),
    ("PATCH", f"/tasker/tasks/{TASK_ID}/workflow_steps/charge_card", "tasker.workflow_step:update"),
    ("DELETE", f"/tasker/tasks/{TASK_ID}/workflow_steps/charge_card", "tasker.workflow_step:destroy"),
    ("GET", "/tasker/health/status", "tasker.health_status:index"),
    ("GET", "/tasker/metrics", "tasker.metrics:index"),
]
"""Every credentialed /tasker route (a sample URL) and its permission."""
OPEN_ROUTES = ["/tasker/health/ready", "/tasker/health/live", "/tasker/api-docs", "/tasker/api-docs.json"]
PAYMENT = {"name": "process_payment", "namespace": "payments", "version": "2.1.0",
           "context": {"payment_id": 12345, "amount": 99.99, "currency": "USD", "customer_id": 67890}}
"""The document's create body."""


@pytest.fixture
def examples(r, prefix) -> Registry:
    """The example handlers (TASKQ_EXAMPLES=1), published under the test's prefix."""
    reg = Registry()
    load_examples(reg)
    publish(r, reg, prefix=prefix)
    return reg


@pytest.fixture
def wfq(r, prefix) -> Queue:
    """The engine queue every step runs in."""
    return Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)


def error_of(resp, status: int, code: str) -> dict:
    """The Tasker error body (no envelope), checked."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:400])
    body = resp.json
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["type"] and body["error"]["message"]
    return body["error"]


def create(client, headers, **overrides) -> dict:
    resp = client.post("/tasker/tasks", json={**PAYMENT, **overrides}, headers=headers)
    assert resp.status_code == 201, resp.json
    return resp.json
