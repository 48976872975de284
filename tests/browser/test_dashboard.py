"""The dashboard in headless Chromium: log in through the form, watch a
queue's counts change while a real worker drains it (no reload), open a
failed task and retry it, pause a schedule, watch a workflow's diagram turn
green, and see a forged CSRF token refused. Every page is visited at laptop
and phone width, loads nothing from another host and logs no console error;
the README's screenshots come from here (TASKQ_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import pytest
from dashboard_helpers import PHONE, log_in, no_reload_marker, run_worker, screenshot, still_same_document

from taskq import Queue
from taskq.leadership import Leadership
from taskq.projects.store import ProjectStore
from taskq.schedules import Schedules
from taskq.worker_registry import WorkerRegistry
from taskq.workflows import Registry, create, get

expect = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras").expect

S = "tests.integration.workflow_steps"
SCHEDULE = {"title": "Nightly report", "description": "builds the report", "schedule_kind": "cron",
            "schedule_expr": "30 1 * * *", "timezone": "Europe/Chisinau",
            "payload": {"pipeline": [{"step": "echo", "args": {"message": "hi"}}]},
            "created_by": "6a1f4a6c-7c43-4d4c-9a0b-3d1a7b2f9c11"}
WAIT_MS = 15_000


def diamond(r, prefix):
    reg = Registry()
    reg.register({"namespace": "shop", "name": "checkout", "version": "1.2.0", "step_templates": [
        {"name": "source", "handler_class": f"{S}.Source"},
        {"name": "double", "handler_class": f"{S}.double", "depends_on_step": "source"},
        {"name": "add_ten", "handler_class": f"{S}.add_ten", "depends_on_step": "source"},
        {"name": "join", "handler_class": f"{S}.join", "depends_on_step": ["double", "add_ten"]}]})
    return create(r, "shop.checkout", context={"n": 4}, registry=reg, prefix=prefix)


def count(page, status: str) -> str:
    return page.locator(f'[data-count="{status}"]').first.inner_text()


def test_a_queue_drains_before_your_eyes(live_server, make_page, r, prefix, redis_url, tmp_path):
    q = Queue("mail", redis=r, prefix=prefix)
    for i in range(8):
        q.enqueue("tests.workers.tasks:record", f"{prefix}:ran", tags=["welcome"])
    page = log_in(live_server, make_page, "dashboard")
    assert page.locator('tr[data-queue="mail"] [data-count="queued"]').inner_text() == "8"
    page.click('a[href="/dashboard/queues/mail"]')
    assert count(page, "queued") == "8" and count(page, "completed") == "0"
    screenshot(page, "queue", tmp_path)
    no_reload_marker(page)
    run_worker(redis_url, prefix, "mail")
    expect(page.locator('[data-count="completed"]').first).to_have_text("8", timeout=WAIT_MS)
    assert count(page, "queued") == "0" and still_same_document(page)
    assert r.get(f"{prefix}:ran") == "8"
    assert page.console_errors == [] and page.foreign_requests() == []


def test_open_a_failed_task_and_retry_it(live_server, make_page, r, prefix, tmp_path):
    q = Queue("billing", redis=r, prefix=prefix)
    t = q.enqueue("app.billing:charge", 42, kwargs={"currency": "EUR"}, max_retries=0, meta={"customer": 7})
    [lease] = q.claim(1, worker="worker-a")
    lease.log("charging card", level="info")
    lease.fail('Traceback (most recent call last):\n  File "billing.py", line 9, in charge\n'
               'ValueError: card declined')
    page = log_in(live_server, make_page, "dashboard")
    page.goto(live_server.url("/dashboard/queues/billing?status=failed"))
    page.click(f'a[href="/dashboard/tasks/{t.id}"]')
    assert "ValueError: card declined" in page.locator("#error").inner_text()
    assert '"currency": "EUR"' in page.locator("#kwargs").inner_text()
    assert page.locator(".status").first.inner_text() == "failed"
    screenshot(page, "task", tmp_path)
    no_reload_marker(page)
    page.click("button:has-text('Retry')")
    expect(page.locator(".status").first).to_have_text("queued", timeout=WAIT_MS)
    assert q.get(t.id).status == "queued" and still_same_document(page)
    assert "queued again" in page.locator("#flash").inner_text()
    assert page.console_errors == [] and page.foreign_requests() == []


def test_pause_a_schedule(live_server, make_page, r, prefix, tmp_path):
    s = Schedules(r, prefix).create(SCHEDULE)
    page = log_in(live_server, make_page, "dashboard")
    page.goto(live_server.url("/dashboard/schedules"))
    row = page.locator(f'tr[data-schedule="{s["id"]}"]')
    assert row.locator(".status").inner_text() == "active"
    screenshot(page, "schedules", tmp_path)
    row.locator("button:has-text('Pause')").click()
    expect(row.locator(".status")).to_have_text("paused", timeout=WAIT_MS)
    assert Schedules(r, prefix).get(s["id"])["status"] == "paused"
    page.click(f'a[href="/dashboard/schedules/{s["id"]}"]')
    assert page.locator("button:has-text('Resume')").count() == 1
    assert page.console_errors == [] and page.foreign_requests() == []


def test_a_workflow_diagram_turns_green(live_server, make_page, r, prefix, redis_url, tmp_path):
    wf = diamond(r, prefix)
    page = log_in(live_server, make_page, "dashboard")
    page.goto(live_server.url(f"/dashboard/workflows/{wf['id']}"))
    page.wait_for_selector('#diagram[data-rendered="true"] svg', timeout=WAIT_MS)
    assert page.locator("#diagram .node").count() == 4
    assert page.locator("#diagram .node.status_complete").count() == 0
    no_reload_marker(page)
    run_worker(redis_url, prefix, "workflows")
    for _ in range(4):  # a burst worker stops when the next steps are not yet released
        if get(r, wf["id"], prefix=prefix)["status"] == "complete":
            break
        run_worker(redis_url, prefix, "workflows")
    assert get(r, wf["id"], prefix=prefix)["status"] == "complete"
    expect(page.locator("#diagram .node.status_complete")).to_have_count(4, timeout=WAIT_MS)
    fill = page.eval_on_selector("#diagram .node.status_complete rect, #diagram .node.status_complete path",
                                 "el => getComputedStyle(el).fill")
    assert fill == "rgb(144, 238, 144)"  # light green, the Tasker diagram's colour for complete
    assert page.locator('tr[data-step="join"]').get_attribute("data-status") == "complete"
    assert still_same_document(page)
    screenshot(page, "workflow", tmp_path)
    assert page.console_errors == [] and page.foreign_requests() == []


def test_a_forged_csrf_token_is_refused(live_server, make_page, r, prefix):
    q = Queue("mail", redis=r, prefix=prefix)
    t = q.enqueue("app:job")
    page = log_in(live_server, make_page, "dashboard")
    page.goto(live_server.url(f"/dashboard/tasks/{t.id}"))
    page.evaluate("""() => {
        document.querySelector('meta[name="csrf-token"]').content = 'forged';
        document.querySelectorAll('input[name="csrf_token"]').forEach(i => { i.value = 'forged'; });
    }""")
    with page.expect_response(lambda resp: resp.url.endswith("/cancel")) as answer:
        page.click("button:has-text('Cancel')")
    assert answer.value.status == 403
    expect(page.locator("#flash")).to_contain_text("CSRF", timeout=WAIT_MS)
    assert q.get(t.id).status == "queued"
    page.console_errors.clear()  # the browser logs the 403 itself


def test_every_page_at_laptop_and_phone_width(live_server, make_page, r, prefix, keys, tmp_path):
    q = Queue("mail", redis=r, prefix=prefix)
    for i in range(5):
        q.enqueue("app.mail:send", i)
    for lease in q.claim(3, worker="worker-a"):
        lease.complete({"sent": True})
    WorkerRegistry(r, keys).register("worker-a", ["mail", "workflows"])
    Leadership(r, keys, "scheduler-1").acquire()
    Schedules(r, prefix).create(SCHEDULE)
    wf = diamond(r, prefix)
    project = ProjectStore(r, prefix).create("crawler")
    page = log_in(live_server, make_page, "dashboard:read")
    for name, path, shows in (("overview", "/dashboard/", "scheduler-1"), ("queues", "/dashboard/queues", "mail"),
                              ("workers", "/dashboard/workers", "worker-a"),
                              ("workflows", "/dashboard/workflows", "shop.checkout@1.2.0"),
                              ("projects", "/dashboard/projects", project.name)):
        page.goto(live_server.url(path))
        assert shows in page.locator("main").inner_text(), name
        screenshot(page, name, tmp_path)
    assert "read-only" in page.locator(".who").inner_text()
    for path in ("/dashboard/queues/mail", f"/dashboard/workflows/{wf['id']}"):
        page.goto(live_server.url(path))
        assert page.locator("form[data-action]").count() == 0  # no buttons for a read scope
    phone = log_in(live_server, make_page, "dashboard", viewport=PHONE)
    for path in ("/dashboard/", "/dashboard/queues/mail", "/dashboard/workers"):
        phone.goto(live_server.url(path))
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a phone"
    phone.goto(live_server.url("/dashboard/"))
    screenshot(phone, "phone", tmp_path)
    login = make_page()
    login.goto(live_server.url("/dashboard/login"))
    screenshot(login, "login", tmp_path, full_page=False)
    for p in (page, phone, login):
        assert p.console_errors == [] and p.foreign_requests() == []
