"""The dashboard's reading aids in headless Chromium: queue latency and a
queue no worker serves, times marked UTC and kept on one line at 1280 px,
the throughput chart as wide as its card, the queue table scrolling (not
clipped) at phone width, a failed task's attempts, a TaskDriver queue named
by its project, and stopped workers dropping out. Screenshots go to
TASKQ_SHOTS_DIR when it is set (never into the tree)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from dashboard_helpers import PHONE, log_in

from taskq import Queue
from taskq.projects.store import ProjectStore
from taskq.schedules import Schedules
from taskq.worker_registry import FORGET_AFTER, WorkerRegistry

pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")

WIDE = {"width": 1280, "height": 900}
SCHEDULE = {"title": "Nightly report", "description": "", "schedule_kind": "cron",
            "schedule_expr": "30 1 * * *", "timezone": "Europe/Chisinau",
            "payload": {"pipeline": [{"step": "echo", "args": {"message": "hi"}}]},
            "created_by": "6a1f4a6c-7c43-4d4c-9a0b-3d1a7b2f9c11"}


def shot(page, name: str) -> None:
    out = os.environ.get("TASKQ_SHOTS_DIR")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(out) / f"{name}.png"), full_page=True)


def _ms_ago(r, seconds: float) -> int:
    s, us = r.time()
    return s * 1000 + us // 1000 - int(seconds * 1000)


def test_latency_served_times_and_chart(live_server, make_page, r, prefix, keys):
    mail = Queue("mail", redis=r, prefix=prefix)
    old = mail.enqueue("app.mail:send")
    r.hset(keys.queue("mail").task(old.id), "created", _ms_ago(r, 400))
    reports = Queue("reports", redis=r, prefix=prefix)
    done = reports.enqueue("app:report")
    [lease] = reports.claim(1)
    lease.complete("ok")
    WorkerRegistry(r, keys).register("worker-r", ["reports"])
    Schedules(r, prefix).create(SCHEDULE)
    page = log_in(live_server, make_page, "dashboard", viewport=WIDE)

    mail_row = page.locator('tr[data-queue="mail"]')
    assert mail_row.locator("[data-unserved]").inner_text() == "no worker"
    assert mail_row.locator(".latency").inner_text().startswith("6m ")
    assert page.locator('tr[data-queue="reports"] [data-unserved]').count() == 0
    # the chart's bars span the card's content box
    card = page.locator("section.card:has(svg.chart)")
    svg_w = page.locator("svg.chart").bounding_box()["width"]
    inner = card.evaluate("el => el.clientWidth - parseFloat(getComputedStyle(el).paddingLeft)"
                          " - parseFloat(getComputedStyle(el).paddingRight)")
    assert svg_w >= inner - 2, (svg_w, inner)
    # every time says UTC, beside the schedule's own zone too
    first_due = page.locator("ul.plain time").first
    assert first_due.inner_text().endswith("UTC")
    shot(page, "overview-1280")

    page.goto(live_server.url("/dashboard/queues/mail"))
    assert page.locator("#queue-state").inner_text() == "no worker"
    assert page.locator("#queue-latency .latency").inner_text().startswith("6m ")
    page.goto(live_server.url("/dashboard/queues/reports?status=completed"))
    assert page.locator("#queue-state").inner_text() == "running"
    created = page.locator(f'tr[data-task="{done.id}"] time').first
    assert created.inner_text().endswith(" UTC")
    box = created.bounding_box()
    line = created.evaluate("el => parseFloat(getComputedStyle(el).lineHeight) || 20")
    assert box["height"] < 1.5 * line, "a date cell wraps at 1280 px"
    shot(page, "queue-1280")

    phone = log_in(live_server, make_page, "dashboard", viewport=PHONE)
    phone.goto(live_server.url("/dashboard/queues"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone, "queues-phone")
    for path in ("/dashboard/queues", "/dashboard/"):
        phone.goto(live_server.url(path))
        scroller = phone.locator("div.scroll:has(table.queues)")
        # nothing cut off at the card's edge: the columns kept at phone width fit
        assert scroller.evaluate("el => el.scrollWidth <= el.clientWidth"), path
        shown = [h.strip().lower() for h in phone.locator("table.queues thead th:visible").all_inner_texts()]
        assert shown == ["queue", "latency", "queued", "running", "failed"], shown
    shot(phone, "overview-phone")
    for p in (page, phone):
        assert p.console_errors == [] and p.foreign_requests() == []


def test_failed_task_attempts_project_names_and_stopped_workers(live_server, make_page, r, prefix, keys):
    q = Queue("billing", redis=r, prefix=prefix)
    t = q.enqueue("app.billing:charge", max_retries=3)
    [lease] = q.claim(1)
    lease.fail("card declined", retryable=False)
    project = ProjectStore(r, prefix).create("crawler")
    Queue(project.queue, redis=r, prefix=prefix).enqueue("crawl")
    reg = WorkerRegistry(r, keys)
    reg.register("worker-live", ["billing"])
    reg.register("worker-gone", ["billing"])
    r.persist(keys.worker("worker-gone"))
    r.zadd(keys.workers, {"worker-gone": int((time.time() - FORGET_AFTER - 5) * 1000)})

    page = log_in(live_server, make_page, "dashboard", "projects:read", viewport=WIDE)
    page.goto(live_server.url(f"/dashboard/tasks/{t.id}"))
    attempts = page.locator("#attempts").inner_text()
    assert attempts.startswith("1 attempt made, no more retries") and " of " not in attempts
    shot(page, "failed-task")
    page.goto(live_server.url("/dashboard/queues/billing?status=failed"))
    assert page.locator(f'tr[data-task="{t.id}"] .attempts').inner_text() == "1 · final"
    shot(page, "failed-attempts")

    page.goto(live_server.url("/dashboard/queues"))
    link = page.locator(f'tr[data-queue="{project.queue}"] a[data-project-queue]')
    assert link.inner_text() == "project:crawler" and link.get_attribute("title") == project.queue
    link.click()
    assert page.locator("h1").inner_text() == "Queue project:crawler"
    shot(page, "project-queue")

    page.goto(live_server.url("/dashboard/workers"))
    assert page.locator('tr[data-worker="worker-live"]').count() == 1
    assert page.locator('tr[data-worker="worker-gone"]').count() == 0
    assert page.console_errors == [] and page.foreign_requests() == []
