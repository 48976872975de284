"""Arguments are loaded with one schema instance per schema class
(api.blueprint), not one per request: every request still gets its own
result and its own errors, from any number of threads at once."""

from __future__ import annotations

import threading

from apihelpers import EXAMPLE_TASK

from api.dialects.dts.schemas_tasks import TaskCreateSchema

BODY = {k: v for k, v in EXAMPLE_TASK.items() if k != "scheduled_at"}
BAD = [("priority", 11), ("max_retries", -1), ("timeout_seconds", 0), ("name", ""), ("tags", "x"),
       ("command", 5)]


def test_no_schema_is_built_per_request(client, admin, monkeypatch):
    client.post("/api/tasks", json=BODY, headers=admin)
    made = []
    real = TaskCreateSchema.__init__
    monkeypatch.setattr(TaskCreateSchema, "__init__", lambda self, *a, **kw: (made.append(1), real(self, *a, **kw))[1])
    for _ in range(5):
        assert client.post("/api/tasks", json=BODY, headers=admin).status_code == 201
    assert made == []


def test_threads_get_their_own_results_and_errors(app, admin):
    problems: list = []

    def run(field, value):
        client = app.test_client()
        for i in range(15):
            if i % 2:
                resp = client.post("/api/tasks", json={**BODY, field: value}, headers=admin)
                got = set(resp.json["error"]["details"]["fields"]) if resp.status_code == 422 else resp.status_code
                if got != {field}:
                    problems.append((field, got))
            else:
                resp = client.post("/api/tasks", json={**BODY, "name": f"{field}-{i}"}, headers=admin)
                if resp.status_code != 201 or resp.json["data"]["name"] != f"{field}-{i}":
                    problems.append((field, resp.status_code, resp.json))

    threads = [threading.Thread(target=run, args=bad) for bad in BAD]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not problems
