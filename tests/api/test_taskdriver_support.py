"""Helpers shared by the TaskDriver tests (no tests here): projects, task
types and tasks made through the API, agent sessions, and a live server for
the document's client classes."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from werkzeug.serving import make_server

TEMPLATE = "Analyze {{repository_url}} for security vulnerabilities focusing on {{security_aspects}}"
VARIABLES = {"repository_url": "https://github.com/company/webapp",
             "security_aspects": "authentication,authorization,input-validation"}


def ok(resp, status=200):
    assert resp.status_code == status, (resp.status_code, resp.json)
    assert resp.json["success"] is True, resp.json
    return resp.json["data"]


def project(client, headers, name="ai-analysis", **config):
    body = {"name": name, "description": "AI-powered code analysis",
            "instructions": "Follow security best practices...", "config": config}
    return ok(client.post("/api/projects", json=body, headers=headers), 201)


def task_type(client, headers, project_id, name="code-security-analysis", **fields):
    body = {"name": name, "template": TEMPLATE, "variables": list(VARIABLES), **fields}
    return ok(client.post(f"/api/projects/{project_id}/task-types", json=body, headers=headers), 201)


def task(client, headers, project_id, type_id, status=201, **fields):
    body = {"typeId": type_id, "variables": dict(VARIABLES), **fields}
    return ok(client.post(f"/api/projects/{project_id}/tasks", json=body, headers=headers), status)


def plain_type(client, headers, project_id, name="free-form", **fields):
    """A type without a template: tasks give their own instructions."""
    body = {"name": name, "duplicateHandling": "allow", **fields}
    return ok(client.post(f"/api/projects/{project_id}/task-types", json=body, headers=headers), 201)


def plain_tasks(client, headers, project_id, type_id, n, **fields):
    items = [{"typeId": type_id, "instructions": f"job {i}", **fields} for i in range(n)]
    data = ok(client.post(f"/api/projects/{project_id}/tasks/bulk", json={"tasks": items},
                          headers=headers), 201)
    return [t["id"] for t in data["tasks"]]


def login(client, agent, project_id, headers=None) -> dict:
    data = ok(client.post("/api/auth/login", json={"agentName": agent, "projectId": project_id},
                          headers=headers or {}))
    return {"Authorization": f"Bearer {data['token']}"}


def next_task(client, headers, agent, project_id=None):
    body = {"projectId": project_id} if project_id else {}
    resp = client.post(f"/api/agents/{agent}/next-task", json=body, headers=headers)
    assert resp.status_code == 200, resp.json
    return resp.json


@contextmanager
def live_server(app):
    """The app on 127.0.0.1, a free port, in a thread; yields its /api URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api"
    finally:
        server.shutdown()
        thread.join(5)
