"""The dashboard never shows a TaskDriver project id to a session without
projects:read (dashboard and dashboard:read alone included): in open login
mode the id is all it takes to take the project's tasks as any agent.

Every page a session can reach (crawled from its links, plus the pages of a
project's queue and task asked for directly), as HTML and as JSON, is
searched for the id; the reproduction then tries every UUID the crawl saw
as a TaskDriver login and a next-task call."""

from __future__ import annotations

import re
from html import unescape

import pytest
from apihelpers import bearer
from dashboard_client import act, login
from test_taskdriver_support import plain_tasks, plain_type, project

from taskq import Queue
from taskq.projects.store import QUEUE_PREFIX
from taskq.schedules import Schedules
from taskq.worker_registry import WorkerRegistry
from taskq.workflows import Registry, create

HREF = re.compile(r'href="(/dashboard/[^"#]*)"')
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
NOT_PAGES = ("/dashboard/login", "/dashboard/logout", "/dashboard/static/")
CRAWL_MAX = 120
HIDDEN = [("dashboard:read",), ("dashboard",)]
SHOWN = [("dashboard:read", "projects:read"), ("dashboard", "projects:write"), ("admin",)]


@pytest.fixture
def world(app, client, r, keys, prefix):
    """A project with tasks, one leased by an agent and one by a worker;
    a DTS task depending on a project task and mentioning the id in its
    args and log; a schedule firing into the project's queue; a workflow
    whose context holds the id."""
    admin = bearer("admin")
    pid = project(client, admin, name="secret-project")["id"]
    tt = plain_type(client, admin, pid)
    ids = plain_tasks(client, admin, pid, tt["id"], 3)
    agent = client.post("/api/auth/login", json={"agentName": "agent-7", "projectId": pid})
    token = {"Authorization": f"Bearer {agent.json['data']['token']}"}
    assert client.post("/api/agents/agent-7/next-task", json={}, headers=token).status_code == 200
    pq = Queue(QUEUE_PREFIX + pid, redis=r, prefix=prefix)
    [held] = pq.claim(worker="w-1")
    WorkerRegistry(r, keys).register("w-1", ["dts", QUEUE_PREFIX + pid])
    WorkerRegistry(r, keys).heartbeat("w-1", [held.id])
    dts = Queue("dts", redis=r, prefix=prefix)
    dep = dts.enqueue("app:report", pid, depends_on=[ids[2]], meta={"name": "report", "project": pid.upper()})
    lease = dts.claim(worker="w-2")
    assert lease == []  # blocked behind the project task
    plain = dts.enqueue("app:plain", note=f"see {pid}")
    [running] = dts.claim(worker="w-2")
    running.log(f"working for project {pid}")
    sched = Schedules(r, prefix).create({
        "title": "into the project", "description": "", "schedule_kind": "cron", "schedule_expr": "0 * * * *",
        "timezone": "UTC", "queue": QUEUE_PREFIX + pid, "created_by": "6a1f4a6c-7c43-4d4c-9a0b-3d1a7b2f9c11",
        "payload": {"pipeline": [{"step": "echo", "args": {"message": pid}}]}})
    Schedules(r, prefix).run_now(sched["id"])
    reg = Registry()
    reg.register({"namespace": "test", "name": "flow", "version": "1.0.0", "step_templates": [
        {"name": "source", "handler_class": "tests.integration.workflow_steps.Source"}]})
    wf = create(r, "test.flow", context={"project": pid}, registry=reg, prefix=prefix)
    placed = create(r, "test.flow", registry=reg, prefix=prefix, queue=QUEUE_PREFIX + pid)
    return {"pid": pid, "project_tasks": ids + [held.id], "dts_tasks": [dep.id, plain.id],
            "schedule": sched["id"], "workflow": wf["id"], "placed_workflow": placed["id"]}


def _session(app, *scopes):
    client = app.test_client()
    login(client, *scopes)
    return client


def crawl(client, world) -> dict[str, tuple[int, str]]:
    """Every dashboard page reachable from the overview by links, each as
    HTML and as JSON, plus a project's queue and task pages and the other
    pages the world holds: path -> (status, body)."""
    start = ["/dashboard/", "/dashboard/queues", "/dashboard/workers", "/dashboard/schedules",
             "/dashboard/workflows", "/dashboard/projects", f"/dashboard/schedules/{world['schedule']}",
             f"/dashboard/workflows/{world['workflow']}", f"/dashboard/workflows/{world['placed_workflow']}",
             f"/dashboard/queues/{QUEUE_PREFIX}{world['pid']}",
             "/dashboard/queues/dts?status=all"]
    start += [f"/dashboard/tasks/{t}" for t in world["dts_tasks"] + world["project_tasks"]]
    seen: dict[str, tuple[int, str]] = {}
    todo = list(start)
    while todo and len(seen) < CRAWL_MAX:
        path = todo.pop(0)
        if path in seen or path.startswith(NOT_PAGES):
            continue
        resp = client.get(path)
        body = resp.get_data(as_text=True)
        seen[path] = (resp.status_code, body)
        data_path = "/dashboard/data" + path[len("/dashboard"):]
        data = client.get(data_path)
        seen[data_path] = (data.status_code, data.get_data(as_text=True))
        todo += [unescape(h) for h in HREF.findall(body) if unescape(h) not in seen]
    assert len(seen) < CRAWL_MAX * 2, "the crawl did not finish"
    return seen


@pytest.mark.parametrize("scopes", HIDDEN)
def test_a_session_without_projects_read_sees_no_project_id_anywhere(app, world, scopes):
    pages = crawl(_session(app, *scopes), world)
    pid = world["pid"]
    leaks = [p for p, (_, body) in pages.items() if pid in body.lower()]
    assert leaks == []
    assert pages["/dashboard/projects"][0] == 200 and "secret-project" in pages["/dashboard/projects"][1]
    assert "project:secret-project" in pages["/dashboard/queues"][1]
    for path in (f"/dashboard/queues/{QUEUE_PREFIX}{pid}", f"/dashboard/data/tasks/{world['project_tasks'][0]}"):
        status, body = pages[path]
        assert status == 403 and "insufficient_scope" in body, path
    assert pages[f"/dashboard/tasks/{world['dts_tasks'][1]}"][0] == 200  # other tasks are still shown
    assert "id~" in pages[f"/dashboard/tasks/{world['dts_tasks'][1]}"][1]  # the id in its args, fingerprinted


@pytest.mark.parametrize("scopes", SHOWN)
def test_a_session_with_projects_read_sees_ids_and_project_pages(app, world, scopes):
    client = _session(app, *scopes)
    pid = world["pid"]
    for path in ("/dashboard/projects", "/dashboard/data/projects", f"/dashboard/queues/{QUEUE_PREFIX}{pid}",
                 f"/dashboard/tasks/{world['project_tasks'][0]}", f"/dashboard/tasks/{world['dts_tasks'][1]}"):
        resp = client.get(path)
        assert resp.status_code == 200 and pid in resp.get_data(as_text=True), path
    [p] = client.get("/dashboard/data/projects").get_json()["data"]["projects"]
    assert p["id"] == pid and p["queue"] == QUEUE_PREFIX + pid
    assert all(lease["task_id"] for a in p["agents"] for lease in a["leases"])


def test_the_projects_page_still_shows_depth_and_agents_without_ids(app, world):
    data = _session(app, "dashboard:read").get("/dashboard/data/projects").get_json()["data"]
    [p] = data["projects"]
    assert p["id"] is None and p["queue"] == "project:secret-project"
    assert p["counts"]["running"] == 2 and p["counts"]["queued"] == 3  # one from the schedule, one a workflow step
    assert [a["name"] for a in p["agents"]] == ["agent-7", "w-1"]  # the worker's claim is a lease too
    assert [lease["task_id"] for a in p["agents"] for lease in a["leases"]] == [None, None]
    assert all(lease["expires_at"] for a in p["agents"] for lease in a["leases"])
    viewer = _session(app, "dashboard")
    task = viewer.get(f"/dashboard/data/tasks/{world['dts_tasks'][0]}").get_json()["data"]
    assert task["task"]["dependencies"] == [] and task["task"]["hidden_dependencies"] == 1
    wf = viewer.get(f"/dashboard/data/workflows/{world['placed_workflow']}").get_json()["data"]["workflow"]
    assert wf["queue"] == "project:secret-project" and [s["task_id"] for s in wf["steps"]] == [None]
    workers = viewer.get("/dashboard/data/workers").get_json()["data"]["workers"]
    assert {w["id"]: w["queues"] for w in workers}["w-1"] == ["dts", "project:secret-project"]
    assert all(w["current_task_ids"] == [] for w in workers if w["id"] == "w-1")
    [sched] = viewer.get("/dashboard/data/schedules").get_json()["data"]["schedules"]
    assert sched["queue"] == "project:secret-project"


def test_acting_on_a_project_queue_or_task_needs_projects_read(app, world, r, prefix):
    pid, task_id = world["pid"], world["project_tasks"][0]
    pq = Queue(QUEUE_PREFIX + pid, redis=r, prefix=prefix)
    operator = app.test_client()
    csrf = login(operator, "dashboard")
    for path in (f"/dashboard/queues/{QUEUE_PREFIX}{pid}/pause", f"/dashboard/tasks/{task_id}/cancel"):
        resp = act(operator, path, csrf)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "insufficient_scope", path
        assert pid not in resp.get_data(as_text=True)
    assert not pq.is_paused and pq.get(task_id).status != "cancelled"
    allowed = app.test_client()
    resp = act(allowed, f"/dashboard/queues/{QUEUE_PREFIX}{pid}/pause", login(allowed, "dashboard", "projects:read"))
    assert resp.status_code == 200 and pq.is_paused


def test_the_viewer_cannot_obtain_an_id_to_take_a_task_with(app, client, world):
    """The report: a dashboard:read viewer read a project id off the
    projects page, logged in as an agent (open login) and took a task.
    Every UUID the viewer can see is tried; none logs in."""
    pages = crawl(_session(app, "dashboard:read"), world)
    seen = {u.lower() for _, body in pages.values() for u in UUID.findall(body)}
    assert seen, "the crawl saw no UUID at all (schedule ids are UUIDs): it proves nothing"
    for candidate in sorted(seen):
        resp = client.post("/api/auth/login", json={"agentName": "intruder", "projectId": candidate})
        assert resp.status_code in (404, 422), (candidate, resp.json)
    real = client.post("/api/auth/login", json={"agentName": "intruder", "projectId": world["pid"]})
    assert real.status_code == 200  # the check above would have caught the id


def test_scrub_leaves_unrelated_uuids_and_other_sessions_alone(app, world):
    """Schedule ids and agent UUIDs stay readable (links keep working); the
    fingerprint is the access log's, so an operator can match it."""
    from api.middleware import loggable_path

    pages = crawl(_session(app, "dashboard:read"), world)
    assert world["schedule"] in pages["/dashboard/schedules"][1]
    assert loggable_path(world["pid"]) in pages[f"/dashboard/tasks/{world['dts_tasks'][1]}"][1]


def test_project_queue_titles_are_read_in_one_round_trip_per_poll(app, client, monkeypatch):
    """Each project queue shows its project's name; the page reads every
    name at once (a page polled every 2 s pays one round trip, not one per
    project queue)."""
    from api.services.labels import LabelService

    admin = bearer("admin")
    names = [f"titles-{i}" for i in range(4)]
    for name in names:
        p = project(client, admin, name=name)
        plain_tasks(client, admin, p["id"], plain_type(client, admin, p["id"])["id"], 1)
    calls = []
    of = LabelService.of
    monkeypatch.setattr(LabelService, "of", lambda self, batch: calls.append(list(batch)) or of(self, batch))
    c = app.test_client()
    login(c, "dashboard", "projects:read")
    calls.clear()
    region = c.get("/dashboard/data/queues").get_json()["regions"]["live"]
    assert all(f"project:{name}" in region for name in names)
    assert len([batch for batch in calls if any(n.startswith(QUEUE_PREFIX) for n in batch)]) == 1
