"""The TaskDriver document's own client classes, unchanged, against a live
taskq (werkzeug on 127.0.0.1): the Python one with requests, the JavaScript
one with node and axios (skipped when node or npm cannot be had). Also the
root endpoints (/health, /metrics/json), headers and the OpenAPI document."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import requests
from test_taskdriver_support import live_server, ok, plain_tasks, plain_type, project


# -- the document's Python client, as it gives it ---------------------------------
class TaskDriverClient:
    def __init__(self, base_url='http://localhost:3000/api'):
        self.base_url = base_url
        self.token = None

    def login(self, agent_name, project_id):
        response = requests.post(f'{self.base_url}/auth/login', json={
            'agentName': agent_name,
            'projectId': project_id
        })
        data = response.json()
        if data['success']:
            self.token = data['data']['token']
            return data['data']
        raise Exception(data['error'])

    def get_next_task(self, agent_name, project_id):
        response = requests.post(
            f'{self.base_url}/agents/{agent_name}/next-task',
            json={'projectId': project_id},
            headers={'Authorization': f'Bearer {self.token}'}
        )
        data = response.json()
        if data['success']:
            return data['data']
        raise Exception(data['error'])

    def complete_task(self, task_id, result, outputs=None):
        response = requests.post(
            f'{self.base_url}/tasks/{task_id}/complete',
            json={'result': result, 'outputs': outputs or {}},
            headers={'Authorization': f'Bearer {self.token}'}
        )
        data = response.json()
        if data['success']:
            return data['data']
        raise Exception(data['error'])


# -- the document's JavaScript client, as it gives it, run by the usage below ---------
JS_CLIENT = """
const axios = require('axios');
class TaskDriverClient {
constructor(baseURL = 'http://localhost:3000/api') {
this.baseURL = baseURL;
this.token = null;
}
async login(agentName, projectId) {
const response = await axios.post(`${this.baseURL}/auth/login`, {
agentName,
projectId
});
this.token = response.data.data.token;
return response.data.data;
}
async getNextTask(agentName, projectId) {
const response = await axios.post(
`${this.baseURL}/agents/${agentName}/next-task`,
{ projectId },
{ headers: { Authorization: `Bearer ${this.token}` } }
);
return response.data.data;
}
async completeTask(taskId, result, outputs = {}) {
const response = await axios.post(
`${this.baseURL}/tasks/${taskId}/complete`,
{ result, outputs },
{ headers: { Authorization: `Bearer ${this.token}` } }
);
return response.data.data;
}
}
"""
JS_USAGE = """
async function main() {
  const [baseURL, projectId] = process.argv.slice(2);
  // Usage, as the document gives it, with the base URL and a real project id
  const client = new TaskDriverClient(baseURL);
  await client.login('my-agent', projectId);
  const task = await client.getNextTask('my-agent', projectId);
  const done = await client.completeTask(task.id, 'Task completed successfully');
  const next = await client.getNextTask('my-agent', projectId);
  await client.completeTask(next.id, 'second', { rows: 2 });
  const none = await client.getNextTask('my-agent', projectId);
  let refused = null;
  try { await client.login('my agent!', projectId); } catch (e) { refused = e.response.data; }
  console.log(JSON.stringify({ task, done, next, none, refused }));
}
main().catch((e) => { console.error(e.response ? JSON.stringify(e.response.data) : e); process.exit(1); });
"""



@pytest.fixture
def work(client, admin):
    """A project with two tasks waiting."""
    p = project(client, admin)
    tt = plain_type(client, admin, p["id"])
    return p["id"], plain_tasks(client, admin, p["id"], tt["id"], 2)


def test_the_documents_python_client(app, client, admin, work):
    project_id, ids = work
    with live_server(app) as base_url:
        c = TaskDriverClient(base_url)
        session = c.login('my-agent', project_id)
        assert session["token"] == c.token and session["sessionId"] and session["expiresAt"]
        task = c.get_next_task('my-agent', project_id)
        assert task["task"]["id"] == task["id"] == ids[0] and task["agentName"] == "my-agent"
        done = c.complete_task(task['id'], 'Task completed successfully')
        assert (done["status"], done["outputs"]) == ("completed", {})
        assert done["result"] == "Task completed successfully"
        c.complete_task(c.get_next_task('my-agent', project_id)['id'], 'second', {"rows": 2})
        with pytest.raises(Exception) as no_task:
            c.get_next_task('my-agent', project_id)
        assert str(no_task.value) == "No tasks available for assignment"
        with pytest.raises(Exception) as refused:
            TaskDriverClient(base_url).login('my-agent', '550e8400-e29b-41d4-a716-446655440000')
        assert str(refused.value) == "project 550e8400-e29b-41d4-a716-446655440000 not found"
    d = ok(client.get(f"/api/tasks/{ids[1]}", headers=admin))
    assert (d["status"], d["result"], d["outputs"]) == ("completed", "second", {"rows": 2})
    assert d["assignedTo"] == "my-agent"


def test_the_documents_javascript_client(app, client, admin, work, axios_dir, tmp_path):
    project_id, ids = work
    script = tmp_path / "client.js"
    script.write_text(JS_CLIENT + JS_USAGE)
    env = {**os.environ, "NODE_PATH": str(axios_dir / "node_modules")}
    with live_server(app) as base_url:
        run = subprocess.run(["node", str(script), base_url, project_id], capture_output=True, text=True,
                             timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["task"]["id"] == out["task"]["task"]["id"] == ids[0]
    assert out["done"]["status"] == "completed" and out["done"]["result"] == "Task completed successfully"
    assert out["next"]["id"] == ids[1] and out["none"] == {"task": None, "agentName": "my-agent"}
    refused = out["refused"]
    assert refused["success"] is False and isinstance(refused["error"], str) and refused["validationDetails"]
    d = ok(client.get(f"/api/tasks/{ids[1]}", headers=admin))
    assert (d["status"], d["result"], d["outputs"]) == ("completed", "second", {"rows": 2})


def test_health_and_metrics_json(client, admin, work):
    body = client.get("/health").json
    assert body["success"] is True and set(body["data"]) == {"status", "timestamp", "uptime", "storage"}
    assert body["data"]["storage"] == {"healthy": True, "provider": "redis"}
    client.get("/api/projects/nope", headers=admin)
    m = ok(client.get("/metrics/json"))
    assert set(m) == {"requests_total", "requests_success", "requests_error", "response_time_avg",
                      "active_sessions", "system"}
    assert m["requests_total"] == m["requests_success"] + m["requests_error"] and m["requests_error"] >= 1
    assert m["requests_total"] >= 4 and m["response_time_avg"] > 0
    assert set(m["system"]) == {"memory_usage", "cpu_usage", "uptime"}
    assert 0 < m["system"]["memory_usage"] <= 100
    client.get("/health")
    assert ok(client.get("/metrics/json"))["requests_total"] == m["requests_total"]   # probes not counted
    assert "taskq_queue_depth" in client.get("/metrics").get_data(as_text=True)


def test_headers_docs_and_rate_limits(make_app, admin):
    client = make_app(TASKQ_RATE_LIMIT="3/60", TASKQ_RATE_LIMIT_IP="2/60").test_client()
    resp = client.get("/api/projects", headers={**admin, "X-Correlation-ID": "req-123-456"})
    assert resp.headers["X-Correlation-ID"] == "req-123-456" and resp.headers["X-RateLimit-Limit"] == "3"
    assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["X-Frame-Options"] == "DENY"
    client.get("/api/projects", headers=admin)
    client.get("/api/projects", headers=admin)
    limited = client.get("/api/projects", headers={**admin, "X-Correlation-ID": "req-9"})
    assert limited.status_code == 429 and isinstance(limited.json["error"], str)
    assert limited.json["correlationId"] == "req-9" and limited.headers["X-RateLimit-Remaining"] == "0"
    logins = [client.post("/api/auth/login", json={}).status_code for _ in range(3)]
    assert logins == [422, 422, 429]                                         # anonymous: per IP
    spec = client.get("/api/docs.json").json
    for path in ("/api/auth/login", "/api/projects", "/api/projects/{project_id}/stats",
                 "/api/projects/{project_id}/task-types", "/api/task-types/{type_id}",
                 "/api/projects/{project_id}/tasks/bulk", "/api/agents/{agent_name}/next-task",
                 "/api/tasks/{task_id}/complete", "/api/tasks/{task_id}/extend-lease",
                 "/api/projects/{project_id}/cleanup-leases"):
        assert path in spec["paths"], path
    assert "sessionAuth" in spec["components"]["securitySchemes"]
    assert "projectId" in spec["components"]["schemas"]["UnionTask"]["properties"]


def test_errors_keep_the_dts_form_on_dts_routes(client, admin):
    resp = client.get("/api/tasks/dts:nope", headers=admin)
    assert resp.json["error"]["code"] == "not_found"                         # DTS clients read error.code
    resp = client.get("/api/projects/nope", headers=admin)
    assert resp.json["error"] == "project nope not found" and resp.json["code"] == "not_found"
    assert resp.json["timestamp"].endswith("Z") and resp.json["correlationId"]
    resp = client.patch("/api/projects", headers=admin)                      # before any route matched
    assert resp.status_code == 405 and isinstance(resp.json["error"], str)
    resp = client.get("/api/nothing-here", headers=admin)
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
