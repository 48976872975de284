"""Every dashboard page with data in it, as HTML and as the JSON its script
polls (same data, same rendered region), and hostile input on each."""

from __future__ import annotations

import pytest
from dashboard_client import login

from taskq.leadership import Leadership
from taskq.projects.store import ProjectStore
from taskq.schedules import Schedules
from taskq.monitoring.series import field as series_field
from taskq.worker_registry import WorkerRegistry
from taskq.workflows import Registry, create

SCHEDULE = {"title": "Nightly report", "description": "", "schedule_kind": "cron",
            "schedule_expr": "30 1 * * *", "timezone": "Europe/Chisinau",
            "payload": {"pipeline": [{"step": "echo", "args": {"message": "hi"}}]},
            "created_by": "6a1f4a6c-7c43-4d4c-9a0b-3d1a7b2f9c11"}


@pytest.fixture
def dash(client):
    login(client, "dashboard")
    return client


def flow(r, prefix):
    reg = Registry()
    reg.register({"namespace": "test", "name": "flow", "version": "1.0.0", "step_templates": [
        {"name": "source", "handler_class": "tests.integration.workflow_steps.Source"},
        {"name": "after", "handler_class": "tests.integration.workflow_steps.after",
         "depends_on_step": "source"}]})
    return create(r, "test.flow", context={"n": 1}, registry=reg, prefix=prefix)


def page_and_data(client, path):
    html = client.get("/dashboard" + path)
    data = client.get("/dashboard/data" + path)
    assert html.status_code == 200, html.get_data(as_text=True)[:500]
    assert data.status_code == 200 and data.headers["Cache-Control"] == "no-store"
    body = data.get_json()
    assert set(body) == {"data", "regions"}
    return html.get_data(as_text=True), body["data"], body["regions"]["live"]


def test_overview_counts_chart_workers_leader_redis_schedules_workflows(dash, r, prefix, keys, make_queue):
    q = make_queue("emails")
    q.enqueue("app:mail", max_retries=0)
    q.enqueue("app:mail", max_retries=0)
    q.enqueue("app:mail")
    done, bad = q.claim(2)
    done.complete(1)
    bad.fail("boom")
    WorkerRegistry(r, keys).register("w-1", ["emails"])
    assert Leadership(r, keys, "sched-7").acquire()
    Schedules(r, prefix).create(SCHEDULE)
    flow(r, prefix)
    html, data, live = page_and_data(dash, "/")
    [row] = [x for x in data["queues"] if x["name"] == "emails"]
    assert (row["counts"]["queued"], row["counts"]["completed"], row["counts"]["failed"]) == (1, 1, 1)
    assert data["workers_online"] == 1 and data["scheduler"]["leader_id"] == "sched-7"
    assert data["redis"]["version"] and data["redis"]["used_memory"] > 0
    assert data["schedules_due"][0]["title"] == "Nightly report"
    assert data["workflows_in_flight"]["total"] == 1
    chart = data["chart"]
    assert len(chart["bars"]) == 60 and (chart["completed"], chart["failed"]) == (1, 1)
    assert "<svg" in live and 'class="bar-' in live and "sched-7" in live
    assert 'data-region="live"' in html and 'data-poll="/dashboard/data/"' in html


def test_the_chart_reads_the_per_minute_counters(dash, r, keys, q):
    import time
    q.enqueue("app:job")
    minute = int(time.time()) // 60
    r.hset(keys.queue(q.name).series, mapping={series_field("m", minute, "completed"): 30,
                                               series_field("m", minute - 5, "failed"): 10,
                                               series_field("m", minute - 90, "failed"): 99})
    data = dash.get("/dashboard/data/").get_json()["data"]["chart"]
    assert (data["completed"], data["failed"], data["failure_rate"]) == (30, 10, 0.25)
    assert data["bars"][-1]["completed"] == 30 and data["bars"][-6]["failed"] == 10
    assert data["bars"][-1]["done_h"] == data["height"]  # the busiest minute fills the chart


def test_queue_page_pages_filters_by_status_and_searches_by_id_or_tag(dash, q):
    tasks = [q.enqueue("app:job", i, tags=["even"] if i % 2 == 0 else []) for i in range(30)]
    _, data, live = page_and_data(dash, f"/queues/{q.name}")
    assert data["paging"] == {"page": 1, "pages": 2, "total": 30, "size": 25, "prev": None, "next": 2}
    assert data["tasks"][0]["id"] == tasks[-1].id  # newest first
    _, data, _ = page_and_data(dash, f"/queues/{q.name}?page=2")
    assert [t["id"] for t in data["tasks"]] == [t.id for t in tasks[4::-1]]
    _, data, _ = page_and_data(dash, f"/queues/{q.name}?q=even")
    assert data["search_kind"] == "tag" and data["paging"]["total"] == 15
    _, data, live = page_and_data(dash, f"/queues/{q.name}?q={tasks[3].id}")
    assert data["search_kind"] == "id" and [t["id"] for t in data["tasks"]] == [tasks[3].id]
    local = tasks[4].id.split(":", 1)[1]
    _, data, _ = page_and_data(dash, f"/queues/{q.name}?q={local}")  # the id without its queue
    assert [t["id"] for t in data["tasks"]] == [tasks[4].id]
    _, data, _ = page_and_data(dash, f"/queues/{q.name}?status=failed")
    assert data["tasks"] == [] and data["status"] == "failed"
    _, data, _ = page_and_data(dash, f"/queues/{q.name}?status=queued&q=even")
    assert data["paging"]["total"] == 15


def test_task_page_shows_everything_about_a_task(dash, q, r):
    t = q.enqueue("app:job", 1, "two", kwargs={"k": [1, 2]}, meta={"who": "me"}, max_retries=0)
    [lease] = q.claim(1, worker="w-9")
    lease.log("step one", level="info")
    lease.checkpoint({"at": 5})
    _, data, live = page_and_data(dash, f"/tasks/{t.id}")
    task = data["task"]
    assert task["status"] == "running" and task["worker"] == "w-9" and task["lease_expires_at"]
    assert '"two"' in task["args"] and '"k"' in task["kwargs"] and '"at": 5' in task["checkpoint"]
    assert [line["message"] for line in data["logs"]] == ["step one"]
    lease.fail("Traceback (most recent call last):\n  ...\nValueError: bad input")
    _, data, live = page_and_data(dash, f"/tasks/{t.id}")
    assert data["task"]["status"] == "failed" and "ValueError: bad input" in data["task"]["error"]
    assert [e["event"] for e in data["timeline"]["events"]][:2] == ["created", "started"]
    assert "failed" in [e["event"] for e in data["timeline"]["events"]]
    assert "ValueError: bad input" in live and "/retry" in live


def test_stored_markup_and_odd_text_are_shown_as_text(dash, q, r):
    t = q.enqueue("app:<script>alert(1)</script>", meta={"name": "<img src=x onerror=alert(1)>"},
                  tags=["<b>t</b>"])
    r.hset(q.qkeys.task(t.id), "error", "bad \u202e\x00 byte <script>x</script>")  # a producer bypassing taskq
    html = dash.get(f"/dashboard/tasks/{t.id}").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<b>t</b>" not in html
    assert dash.get(f"/dashboard/data/tasks/{t.id}").status_code == 200
    assert dash.get(f"/dashboard/queues/{q.name}").status_code == 200


def test_workers_page(dash, r, keys, q):
    t = q.enqueue("app:job")
    reg = WorkerRegistry(r, keys)
    reg.register("w-1", ["default"])
    reg.heartbeat("w-1", [t.id], completed=3, failed=1,
                  resources={"cpu_usage": 0.5, "memory_usage": 0.25, "disk_usage": 0.1})
    _, data, live = page_and_data(dash, "/workers")
    [w] = data["workers"]
    assert (w["status"], w["tasks_completed"], w["tasks_failed"], w["cpu_usage"]) == ("active", 3, 1, 0.5)
    assert w["current_task_ids"] == [t.id] and w["hostname"] and w["pid"]
    assert "50%" in live and "25%" in live and t.id in live


def test_schedules_pages(dash, r, prefix):
    s = Schedules(r, prefix).create(SCHEDULE)
    _, data, live = page_and_data(dash, "/schedules")
    assert [x["id"] for x in data["schedules"]] == [s["id"]] and data["schedules"][0]["next_run_at"]
    assert "/pause" in live and "/run-now" in live
    html, data, live = page_and_data(dash, f"/schedules/{s['id']}")
    assert data["schedule"]["title"] == "Nightly report" and "Snooze" in html


def test_workflow_pages(dash, r, prefix):
    wf = flow(r, prefix)
    _, data, _ = page_and_data(dash, "/workflows")
    assert [w["id"] for w in data["workflows"]] == [wf["id"]] and data["workflows"][0]["steps"] == 2
    _, data, _ = page_and_data(dash, "/workflows?status=pending")
    assert data["paging"]["total"] == 1
    html, data, live = page_and_data(dash, f"/workflows/{wf['id']}")
    assert [s["name"] for s in data["workflow"]["steps"]] == ["source", "after"]
    assert 'data-step="source"' in live and "/steps/source/cancel" in live
    assert 'id="diagram"' in html and '<script src="/tasker/assets/mermaid.min.js" defer>' in html
    assert data["mermaid"].startswith("flowchart TD") and "s0 --> s1" in data["mermaid"]
    assert "click" not in data["mermaid"]  # node links would lead to the Tasker API
    csp = dash.get(f"/dashboard/workflows/{wf['id']}").headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self' 'unsafe-inline'" in csp


def test_a_workflow_page_without_a_fetched_mermaid_shows_its_text(dash, r, prefix, tmp_path):
    wf = flow(r, prefix)
    app = dash.application
    fetched = app.extensions["taskq.mermaid_file"]
    app.extensions["taskq.mermaid_file"] = tmp_path / "mermaid.min.js"  # not there
    try:
        html, data, _ = page_and_data(dash, f"/workflows/{wf['id']}")
    finally:
        app.extensions["taskq.mermaid_file"] = fetched
    assert "mermaid.min.js" not in html and 'data-mermaid="no"' in html
    assert "does not serve" in html and data["mermaid"].startswith("flowchart TD")


def test_projects_page_shows_depth_and_agents_with_leases(dash, app, r, prefix):
    st = app.extensions["taskq"]
    project = ProjectStore(r, prefix).create("crawl")
    tt = st.types.create(project.id, name="page", template="fetch {{url}}")
    for i in range(3):
        st.project_tasks.create(project.id, {"typeId": tt.id, "variables": {"url": f"u{i}"}})
    st.agents.next_task(project, "agent-7")
    _, data, live = page_and_data(dash, "/projects")
    [p] = data["projects"]
    assert p["counts"]["queued"] == 2 and p["counts"]["running"] == 1
    assert [a["name"] for a in p["agents"]] == ["agent-7"] and len(p["agents"][0]["leases"]) == 1
    assert "agent-7" in live


@pytest.mark.parametrize("path, status, code", [
    ("/queues/nope", 404, "queue_not_found"),
    ("/queues/" + "x" * 300, 404, "queue_not_found"),
    ("/queues/default?status=bogus", 400, "invalid_status"),
    ("/queues/default?page=0", 400, "invalid_page"),
    ("/queues/default?page=-1", 400, "invalid_page"),
    ("/queues/default?page=" + "9" * 400, 400, "invalid_page"),
    ("/queues/default?page=1e3", 400, "invalid_page"),
    ("/queues/default?q=" + "a" * 201, 400, "invalid_search"),
    ("/queues/default?q=%ED%B2%80", 400, "invalid_encoding"),
    ("/tasks/default:nope", 404, "task_not_found"),
    ("/tasks/no-queue-here", 404, "task_not_found"),
    ("/tasks/" + "x" * 5000, 404, "task_not_found"),
    ("/tasks/%00%01", 404, "task_not_found"),
    ("/schedules/" + "a" * 100, 404, "not_found"),
    ("/schedules/00000000-0000-0000-0000-000000000000", 404, "not_found"),
    ("/schedules?page=abc", 400, "invalid_page"),
    ("/workflows/nope", 404, "workflow_not_found"),
    ("/workflows/" + "w" * 65, 404, "workflow_not_found"),
    ("/workflows?status=bogus", 400, "invalid_status"),
])
def test_hostile_urls_answer_4xx_with_a_code_as_a_page_and_as_json(dash, q, path, status, code):
    q.enqueue("app:job")
    page = dash.get("/dashboard" + path)
    assert page.status_code == status and code in page.get_data(as_text=True)
    assert page.mimetype == "text/html" or code == "invalid_encoding"
    data = dash.get("/dashboard/data" + path)
    assert data.status_code == status and data.get_json()["error"]["code"] == code


@pytest.mark.parametrize("search", ["*", "?", "[a-z]", "\\", "' OR 1=1 --", "{default}", "a:b:c",
                                    "%", "\u2603", "\x00"])
def test_odd_searches_are_just_tags_that_match_nothing(dash, q, search):
    q.enqueue("app:job", tags=["real"])
    resp = dash.get(f"/dashboard/data/queues/{q.name}", query_string={"q": search})
    assert resp.status_code == 200 and resp.get_json()["data"]["tasks"] == []


def test_a_blank_search_is_no_search(dash, q):
    q.enqueue("app:job", tags=["real"])
    data = dash.get(f"/dashboard/data/queues/{q.name}", query_string={"q": " " * 50}).get_json()["data"]
    assert data["search"] == "" and len(data["tasks"]) == 1


def test_queue_and_task_pages_show_rate_limits(dash, q):
    q.set_rate_limit("100/s")
    q.set_rate_limit("10/m", key="acme")
    t = q.enqueue("app:job", rate_key="acme")
    html, data, _ = page_and_data(dash, f"/queues/{q.name}")
    assert data["rate_limit"] == "100/s" and data["key_limits"] == [["acme", "10/m"]]
    assert "Rate limit: 100/s" in html and "<code>acme</code> 10/m" in html
    html, data, _ = page_and_data(dash, f"/tasks/{t.id}")
    assert data["task"]["rate_key"] == "acme" and "Rate key" in html
