"""The web process on a full Redis (maxmemory reached, noeviction): a create
in each dialect answers 503 with the code ``redis_full`` and Retry-After,
in that dialect's error style, and writes nothing; reads still answer (the
rate limiter cannot count on a full Redis and lets them through); once
memory is freed the same requests create."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import redis
from schedules_api_helpers import WRITE, spec
from tasker_helpers import PAYMENT
from test_taskdriver_support import VARIABLES, project, task_type

from taskq.local.embedded import redis_server_path
from taskq.workflows import Registry, publish
from taskq.workflows.examples import load_examples

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from full_redis import fill, free, private_server, snapshot  # noqa: E402


@pytest.fixture
def full(tmp_path):
    with private_server(redis_server_path(), tmp_path) as url:
        yield redis.Redis.from_url(url, decode_responses=True)


def test_creates_answer_503_redis_full_and_write_nothing(make_app, full, prefix, admin):
    reg = Registry()
    load_examples(reg)
    publish(full, reg, prefix=prefix)
    client = make_app(REDIS=full).test_client()
    p = project(client, admin)
    tt = task_type(client, admin, p["id"])
    creates = [("/api/tasks", {"name": "t", "command": "true"}, admin, '"success": false'),
               (f"/api/projects/{p['id']}/tasks", {"typeId": tt["id"], "variables": dict(VARIABLES)},
                admin, None),
               ("/tasker/tasks", PAYMENT, admin, '"type": "ServiceUnavailable"'),
               ("/tasks", spec(), WRITE, None)]
    fill(full)
    before = snapshot(full, prefix)
    for url, body, headers, style in creates:
        resp = client.post(url, json=body, headers=headers)
        text = resp.get_data(as_text=True)
        assert resp.status_code == 503, (url, text)
        assert resp.headers["Retry-After"] == "5"
        assert "redis_full" in text.lower(), (url, text)  # Tasker writes codes in capitals
        if style:
            assert style in resp.get_data(as_text=True).replace('":', '": '), (url, text)
    assert client.get("/api/tasks", headers=admin).status_code == 200  # reads still answer
    assert client.get("/tasker/tasks", headers=admin).status_code == 200
    after = snapshot(full, prefix)
    assert {k: v for k, v in after.items() if ":rate:" not in k} == \
        {k: v for k, v in before.items() if ":rate:" not in k}

    free(full)
    for url, body, headers, _ in creates:
        resp = client.post(url, json=body, headers=headers)
        assert resp.status_code in (201, 202), (url, resp.get_data(as_text=True))
