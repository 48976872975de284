"""What a create costs in round trips to Redis: the API renders the task the
engine wrote, so POST /api/tasks is one round trip (the enqueue pipeline)
and reads nothing back; no create re-registers its queue (SADD) once the
app has enqueued to it. Rate limits, request counters and the instance
heartbeat are switched off or already done, so only the create is counted."""

from __future__ import annotations

import time

import pytest
import redis.client
from apihelpers import EXAMPLE_TASK
from test_taskdriver_support import VARIABLES, ok, project, task_type


@pytest.fixture
def counted(make_app, r, monkeypatch):
    """(client, trips): trips lists each round trip of the app's client as
    ("command", NAME) or ("pipeline", [NAMES]), once started."""
    app = make_app(TASKQ_RATE_LIMIT="off", TASKQ_RATE_LIMIT_IP="off", TASKQ_METRICS=False)
    trips: list = []
    counting = {"on": False}
    real_command, real_execute = r.execute_command, redis.client.Pipeline.execute

    def command(*args, **options):
        if counting["on"]:
            trips.append(("command", str(args[0]).upper()))
        return real_command(*args, **options)

    def execute(pipe, *args, **kwargs):
        if counting["on"] and pipe.connection_pool is r.connection_pool:
            trips.append(("pipeline", [str(c[0][0]).upper() for c in pipe.command_stack]))
        return real_execute(pipe, *args, **kwargs)

    monkeypatch.setattr(r, "execute_command", command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
    client = app.test_client()

    def start():
        app.extensions["taskq"].last_beat = time.time() + 3600  # no instance heartbeat while counting
        trips.clear()
        counting["on"] = True

    def stop():
        counting["on"] = False
        return list(trips)
    return client, start, stop


def test_post_api_tasks_is_one_round_trip_and_reads_nothing_back(counted, admin):
    client, start, stop = counted
    ok(client.post("/api/tasks", json=EXAMPLE_TASK, headers=admin), 201)  # the queue's first enqueue
    start()
    created = ok(client.post("/api/tasks", json={**EXAMPLE_TASK, "tags": ["a"], "priority": 9},
                             headers=admin), 201)
    assert stop() == [("pipeline", ["EVALSHA"])]
    # what the create answered is what a read of the stored task answers
    assert created == ok(client.get(f"/api/tasks/{created['id']}", headers=admin))


def test_taskdriver_create_sends_no_sadd_and_reads_no_task_back(counted, admin):
    client, start, stop = counted
    p = project(client, admin)
    tt = task_type(client, admin, p["id"])
    url = f"/api/projects/{p['id']}/tasks"
    body = {"typeId": tt["id"], "variables": VARIABLES}
    ok(client.post(url, json=body, headers=admin), 201)
    start()
    created = ok(client.post(url, json={**body, "variables": {**VARIABLES, "n": 2}}, headers=admin), 201)
    trips = stop()
    assert trips[-1] == ("pipeline", ["EVALSHA"])             # the enqueue, last: nothing read after it
    assert not any("SADD" in (t[1] if t[0] == "pipeline" else [t[1]]) for t in trips)
    read = ok(client.get(f"/api/tasks/{created['id']}", headers=admin))
    assert {k: read[k] for k in created} == created
