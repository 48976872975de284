"""The Tasker document's JavaScript ``TaskerClient`` class, unchanged, run by
node with axios against a live taskq (werkzeug on 127.0.0.1) given only its
/tasker base URL, with the example handlers published and a real worker
running the created workflow. Skipped only when node or npm cannot be had."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from apihelpers import bearer
from test_taskdriver_support import live_server

from taskq import workflows

ROOT = Path(__file__).resolve().parents[2]

# -- the document's JavaScript client, as it gives it ---------------------------------
JS_CLIENT = """
const axios = require('axios');

class TaskerClient {
  constructor(baseURL, token) {
    this.client = axios.create({
      baseURL,
      headers: {
        'Authorization': `Bearer ${token}`,
        'Content-Type': 'application/json'
      }
    });
  }

  async getNamespaces() {
    const response = await this.client.get('/handlers');
    return response.data.namespaces;
  }

  async getHandlers(namespace) {
    const response = await this.client.get(`/handlers/${namespace}`);
    return response.data.handlers;
  }

  async getHandlerDetails(namespace, name, version = null) {
    const params = version ? { version } : {};
    const response = await this.client.get(`/handlers/${namespace}/${name}`, { params });
    return response.data;
  }

  async createTask(name, namespace, version, context) {
    const response = await this.client.post('/tasks', {
      name, namespace, version, context
    });
    return response.data;
  }

  async getTask(id, includeDependencies = false) {
    const params = includeDependencies ? { include_dependencies: true } : {};
    const response = await this.client.get(`/tasks/${id}`, { params });
    return response.data;
  }

  async getTaskDiagram(id, format = 'json') {
    const params = { format };
    const response = await this.client.get(`/tasks/${id}/task_diagrams`, { params });
    return response.data;
  }

  async getPerformanceAnalytics() {
    const response = await this.client.get('/analytics/performance');
    return response.data;
  }

  async getBottleneckAnalysis(options = {}) {
    const { namespace, name, version, period } = options;
    const params = {};
    if (namespace) params.namespace = namespace;
    if (name) params.name = name;
    if (version) params.version = version;
    if (period) params.period = period;
    
    const response = await this.client.get('/analytics/bottlenecks', { params });
    return response.data;
  }

  async getHealthStatus() {
    const response = await this.client.get('/health/status');
    return response.data;
  }

  async getMetrics() {
    const response = await this.client.get('/metrics');
    return response.data;
  }
}
"""

# The document's usage, in an async function (CommonJS has no top-level await),
# with the base URL and token from the command line; then, once a worker has
# run the workflow, the same task read back with its dependencies.
JS_USAGE = """
async function main() {
  const [baseURL, token, phase, taskId] = process.argv.slice(2);
  const tasker = new TaskerClient(baseURL, token);
  if (phase === 'monitor') {
    const task = await tasker.getTask(taskId, true);
    const diagram = await tasker.getTaskDiagram(taskId, 'json');
    const performance = await tasker.getPerformanceAnalytics();
    const metrics = await tasker.getMetrics();
    console.log(JSON.stringify({ task, diagram, performance, metrics }));
    return;
  }
  // Discover and create task
  const namespaces = await tasker.getNamespaces();
  const handlers = await tasker.getHandlers('payments');
  const handlerDetails = await tasker.getHandlerDetails('payments', 'process_payment', '2.1.0');
  const task = await tasker.createTask('process_payment', 'payments', '2.1.0', { payment_id: 123 });

  // Monitor performance and get task visualization (v2.7.0)
  const performance = await tasker.getPerformanceAnalytics();
  const bottlenecks = await tasker.getBottleneckAnalysis({ namespace: 'payments', period: 24 });
  const diagram = await tasker.getTaskDiagram(task.id, 'json');
  const health = await tasker.getHealthStatus();
  let refused = null;
  try { await new TaskerClient(baseURL, 'not-a-token').getNamespaces(); }
  catch (e) { refused = { status: e.response.status, body: e.response.data }; }
  console.log(JSON.stringify({ namespaces, handlers, handlerDetails, task, performance,
                               bottlenecks, diagram, health, refused }));
}
main().catch((e) => { console.error(e.response ? JSON.stringify(e.response.data) : e); process.exit(1); });
"""



def _node(script, axios_dir, *args) -> dict:
    env = {**os.environ, "NODE_PATH": str(axios_dir / "node_modules")}
    run = subprocess.run(["node", str(script), *args], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _worker_burst(redis_url, prefix):
    env = {**os.environ, "REDIS_URL": redis_url, "TASKQ_PREFIX": prefix, "TASKQ_EXAMPLES": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, "-m", "taskq.cli", "worker", "--burst", "-q", "workflows"],
                         capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_documents_javascript_client(app, r, redis_url, prefix, axios_dir, tmp_path):
    reg = workflows.load_configured(workflows.Registry(), env={"TASKQ_EXAMPLES": "1"})
    workflows.publish(r, reg, prefix)
    token = bearer("tasker.*")["Authorization"].split(" ", 1)[1]
    script = tmp_path / "tasker.js"
    script.write_text(JS_CLIENT + JS_USAGE)
    with live_server(app) as api_url:
        base_url = api_url[: -len("/api")] + "/tasker"
        out = _node(script, axios_dir, base_url, token, "discover")
        names = {ns["name"]: ns for ns in out["namespaces"]}
        assert set(names) == {"payments", "inventory", "notifications"}
        assert names["payments"]["handler_count"] == len(names["payments"]["handlers"]) == 5
        assert {"process_payment", "refund_payment"} <= {h["id"] for h in out["handlers"]}
        details = out["handlerDetails"]
        assert (details["id"], details["version"]) == ("process_payment", "2.1.0")
        assert details["dependency_graph"]["execution_order"] == [
            "validate_payment", "charge_card", "update_order", "send_confirmation"]
        task = out["task"]
        assert task["full_name"] == "payments.process_payment@2.1.0" and task["status"] == "pending"
        assert task["context"] == {"payment_id": 123}
        assert [n["id"] for n in out["diagram"]["nodes"]] == details["dependency_graph"]["nodes"]
        assert out["diagram"]["title"] == "payments.process_payment@2.1.0"
        assert "system_health_score" in out["performance"] and "error_patterns" in out["bottlenecks"]
        assert out["bottlenecks"]["scope"] == {"namespace": "payments"}
        assert out["health"]  # a detailed status object
        assert out["refused"]["status"] == 401
        assert out["refused"]["body"]["error"]["code"] == "AUTHENTICATION_FAILED"

        _worker_burst(redis_url, prefix)
        deadline = time.monotonic() + 30
        while True:
            done = _node(script, axios_dir, base_url, token, "monitor", task["id"])
            if done["task"]["status"] in ("complete", "error") or time.monotonic() > deadline:
                break
            _worker_burst(redis_url, prefix)
    assert done["task"]["status"] == "complete", done["task"]
    assert [s["status"] for s in done["task"]["steps"]] == ["complete"] * 4
    assert done["task"]["dependencies"]["completed_steps"] == details["dependency_graph"]["execution_order"]
    assert {n["attributes"]["status"] for n in done["diagram"]["nodes"]} == {"complete"}
    assert "# TYPE" in done["metrics"]
