"""The Tasker document's cURL walk-through, end to end over real HTTP:
publish the example handlers as a worker host does (`taskq handlers
publish`), mint a token with `taskq auth token`, discover (namespaces,
handlers, details), create a task, and monitor it while real `taskq worker
--burst` processes run its steps, until it is complete."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from apihelpers import SECRET
from test_taskdriver_support import live_server

ROOT = Path(__file__).resolve().parents[2]


def _taskq(redis_url, prefix, *args, **env) -> str:
    e = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix, TASKQ_JWT_SECRET=SECRET,
             PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **env)
    out = subprocess.run([sys.executable, "-m", "taskq.cli", *args], env=e, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_discover_create_and_monitor_until_complete(app, redis_url, prefix):
    assert _taskq(redis_url, prefix, "handlers", "publish", TASKQ_EXAMPLES="1") == "published 12 handler(s)"
    token = _taskq(redis_url, prefix, "auth", "token", "--sub", "ops", "-s", "tasker.*")
    h = {"Authorization": f"Bearer {token}"}
    with live_server(app) as api_url:
        base = api_url.removesuffix("/api") + "/tasker"
        # 1. list all namespaces
        namespaces = requests.get(f"{base}/handlers", headers=h, timeout=10).json()["namespaces"]
        assert {ns["name"] for ns in namespaces} == {"payments", "inventory", "notifications"}
        # 2. explore handlers in the payments namespace
        handlers = requests.get(f"{base}/handlers/payments", headers=h, timeout=10).json()["handlers"]
        assert "process_payment" in {x["id"] for x in handlers}
        # 3. handler details with the dependency graph
        details = requests.get(f"{base}/handlers/payments/process_payment", params={"version": "2.1.0"},
                               headers=h, timeout=10).json()
        order = details["dependency_graph"]["execution_order"]
        # 4. create a task with the discovered handler
        resp = requests.post(f"{base}/tasks", headers=h, timeout=10, json={
            "name": "process_payment", "namespace": "payments", "version": "2.1.0",
            "context": {"payment_id": 123}})
        assert resp.status_code == 201, resp.text
        task_id = resp.json()["id"]
        # 5. monitor progress while workers run the steps
        task = None
        for _ in range(8):
            _taskq(redis_url, prefix, "worker", "--burst", "-q", "workflows")
            task = requests.get(f"{base}/tasks/{task_id}", params={"include_dependencies": "true"},
                                headers=h, timeout=10).json()
            if task["status"] in ("complete", "error", "cancelled"):
                break
            time.sleep(0.3)
    assert task["status"] == "complete", task
    assert [s["name"] for s in task["steps"]] == order
    assert all(s["status"] == "complete" and s["attempts"] == 1 and s["completed_at"] for s in task["steps"])
    results = {s["name"]: s["results"] for s in task["steps"]}
    assert results["validate_payment"]["valid"] is True
    assert results["charge_card"]["status"] == "succeeded"
    assert results["send_confirmation"]["subject"] == "Payment 123 received"
    assert task["dependencies"] == {"analysis": "All steps are complete", "blocked_steps": [],
                                    "ready_steps": [], "completed_steps": order}
