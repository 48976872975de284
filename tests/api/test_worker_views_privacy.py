"""Worker views never show a TaskDriver project's id to a caller without
projects:read: its queue reads as ``project:<name>`` and its task ids are
left out (a project id is enough to log in as the project's agents)."""

from __future__ import annotations

from apihelpers import bearer
from test_taskdriver_support import project

from taskq import Queue
from taskq.projects.store import QUEUE_PREFIX
from taskq.worker_registry import WorkerRegistry


def _worker_on_project(client, r, keys, prefix):
    pid = project(client, bearer("admin"), name="secret-project")["id"]
    pq = Queue(QUEUE_PREFIX + pid, redis=r, prefix=prefix)
    pq.enqueue_call("x:y")
    dts = Queue("dts", redis=r, prefix=prefix)
    dts.enqueue_call(None, meta={"name": "public"})
    leases = pq.claim(worker="w-1") + dts.claim(worker="w-1")
    reg = WorkerRegistry(r, keys)
    reg.register("w-1", ["dts", QUEUE_PREFIX + pid])
    reg.heartbeat("w-1", [x.id for x in leases])
    return pid, leases


def test_workers_read_scope_sees_no_project_id(client, r, keys, prefix):
    pid, leases = _worker_on_project(client, r, keys, prefix)
    reader = bearer("workers:read")
    for path in ("/api/workers", "/api/workers/w-1", "/api/workers/w-1/tasks"):
        resp = client.get(path, headers=reader)
        assert resp.status_code == 200, path
        assert pid not in resp.get_data(as_text=True), path
    one = client.get("/api/workers/w-1", headers=reader).json["data"]
    assert one["queues"] == ["dts", "project:secret-project"]
    assert one["current_task_ids"] == [leases[1].id]
    listed = client.get("/api/workers", headers=reader).json["data"][0]
    assert listed["queues"] == ["dts", "project:secret-project"]
    assert client.get("/api/workers/w-1/tasks", headers=reader).json["meta"]["total"] == 1


def test_projects_read_scope_sees_the_queue(client, r, keys, prefix):
    pid, leases = _worker_on_project(client, r, keys, prefix)
    both = bearer("workers:read", "projects:read")
    one = client.get("/api/workers/w-1", headers=both).json["data"]
    assert one["queues"] == ["dts", QUEUE_PREFIX + pid]
    assert sorted(one["current_task_ids"]) == sorted(x.id for x in leases)
    assert client.get("/api/workers/w-1/tasks", headers=both).json["meta"]["total"] == 2
