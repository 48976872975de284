"""Times in the viewer's zone, on request: a browser in Europe/Chisinau
sees every time in UTC (as the server renders it) until "Times: Local" is
chosen in the header; then a task's created time shows shifted by the
zone's offset with its label (UTC+3 in July, UTC+2 in January), the title
keeping the stored UTC instant, in the rows the page swaps in as it
refreshes too, and in the chart's bar titles. The choice survives a reload;
a schedule's own zone stays as it is. The docs' screenshot comes from here
(TASKQ_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from dashboard_helpers import PHONE, log_in, screenshot

from taskq import Queue
from taskq.schedules import Schedules

expect = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras").expect

ZONE = "Europe/Chisinau"
WAIT_MS = 15_000
SUMMER = datetime(2026, 7, 15, 21, 30, 5, tzinfo=timezone.utc)  # 00:30:05 next day, UTC+3 (EEST)
WINTER = datetime(2026, 1, 10, 8, 0, 0, tzinfo=timezone.utc)  # 10:00:00, UTC+2 (EET)
SCHEDULE = {"title": "Nightly report", "description": "", "schedule_kind": "cron",
            "schedule_expr": "30 1 * * *", "timezone": ZONE,
            "payload": {"pipeline": [{"step": "echo", "args": {"message": "hi"}}]},
            "created_by": "6a1f4a6c-7c43-4d4c-9a0b-3d1a7b2f9c11"}


class ZonedPage:
    """A page whose browser context is in ``timezone_id``, recording console
    errors and requested URLs like conftest's Page."""

    def __init__(self, page):
        self.page = page
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.console_errors.append(f"uncaught: {exc}"))
        page.on("request", lambda req: self.requests.append(req.url))

    def __getattr__(self, name):
        return getattr(self.page, name)

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(("http://127.0.0.1", "data:", "about:", "blob:"))]


@pytest.fixture
def make_zoned_page(browser):
    """make_zoned_page(viewport=None) -> a page in a fresh context in ZONE."""
    contexts = []

    def make(headers: dict | None = None, viewport: dict | None = None) -> ZonedPage:
        ctx = browser.new_context(timezone_id=ZONE, locale="en-US", extra_http_headers=headers or {},
                                  viewport=viewport or {"width": 1000, "height": 700})
        contexts.append(ctx)
        return ZonedPage(ctx.new_page())

    yield make
    for ctx in contexts:
        ctx.close()


def utc_text(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def local_text(at: datetime) -> str:
    """What the dashboard should show for ``at`` in ZONE: "... UTC+3"."""
    here = at.astimezone(ZoneInfo(ZONE))
    hours = int(here.utcoffset().total_seconds() // 3600)
    return here.strftime("%Y-%m-%d %H:%M:%S") + f" UTC{hours:+d}"


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def set_created(r, keys, queue: str, task_id: str, at: datetime) -> None:
    r.hset(keys.queue(queue).task(task_id), "created", int(at.timestamp() * 1000))


def test_times_switch_to_the_viewers_zone_and_back(live_server, make_zoned_page, r, prefix, keys, tmp_path):
    q = Queue("mail", redis=r, prefix=prefix)
    summer = q.enqueue("app.mail:send", 1)
    winter = q.enqueue("app.mail:send", 2)
    set_created(r, keys, "mail", summer.id, SUMMER)
    set_created(r, keys, "mail", winter.id, WINTER)
    sched = Schedules(r, prefix).create(SCHEDULE)
    assert local_text(SUMMER) == "2026-07-16 00:30:05 UTC+3"
    assert local_text(WINTER) == "2026-01-10 10:00:00 UTC+2"

    page = log_in(live_server, make_zoned_page, "dashboard")
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == ZONE
    page.goto(live_server.url("/dashboard/queues/mail"))
    choice = page.locator("#times-choice")
    expect(choice).to_be_visible()
    assert re.sub(r"\s+", " ", choice.inner_text()).strip() == f"Times: UTC | Local ({ZONE})"
    utc_button = choice.locator('button[data-times="utc"]')
    local_button = choice.locator('button[data-times="local"]')
    assert utc_button.get_attribute("aria-pressed") == "true"
    created = page.locator(f'tr[data-task="{summer.id}"] time').first
    # UTC by default: the server's text
    assert created.inner_text() == utc_text(SUMMER)
    assert created.get_attribute("title") == iso(SUMMER)

    local_button.click()
    assert local_button.get_attribute("aria-pressed") == "true"
    assert utc_button.get_attribute("aria-pressed") == "false"
    expect(created).to_have_text(local_text(SUMMER))
    assert created.get_attribute("title") == iso(SUMMER)  # hovering still shows the stored instant
    assert created.locator(".tz").inner_text().strip() == "UTC+3"
    assert page.locator(f'tr[data-task="{winter.id}"] time').first.inner_text() == local_text(WINTER)

    # a row the page swaps in as it refreshes comes in local time too
    fresh = q.enqueue("app.mail:send", 3)
    fresh_ms = int(r.hget(keys.queue("mail").task(fresh.id), "created"))
    fresh_at = datetime.fromtimestamp(fresh_ms // 1000, tz=timezone.utc)
    fresh_time = page.locator(f'tr[data-task="{fresh.id}"] time').first
    expect(fresh_time).to_have_text(local_text(fresh_at), timeout=WAIT_MS)
    assert created.inner_text() == local_text(SUMMER)
    screenshot(page, "local-times", tmp_path, full_page=False)

    # kept across a reload, and on the other pages
    page.reload()
    expect(page.locator('#times-choice button[data-times="local"]')).to_have_attribute("aria-pressed", "true")
    assert page.locator(f'tr[data-task="{summer.id}"] time').first.inner_text() == local_text(SUMMER)
    page.goto(live_server.url(f"/dashboard/tasks/{winter.id}"))
    assert page.locator("dt:has-text('Created') + dd time").inner_text() == local_text(WINTER)
    page.goto(live_server.url(f"/dashboard/schedules/{sched['id']}"))
    # the schedule's own zone is what it is; its next run (a stored instant) converts
    assert page.locator("dt:has-text('Time zone') + dd").inner_text() == ZONE
    next_run = page.locator("#next-run time")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+[23]", next_run.inner_text())
    assert next_run.get_attribute("title").endswith("Z")
    page.goto(live_server.url("/dashboard/"))
    bar = page.locator("svg.chart title").last
    at = datetime.strptime(bar.get_attribute("data-at"), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    label = local_text(at)
    assert bar.text_content() == f"{label[11:16]} {label[20:]}" + bar.get_attribute("data-tail")

    # and back to UTC
    page.locator('#times-choice button[data-times="utc"]').click()
    assert bar.text_content().startswith(at.strftime("%H:%M") + " UTC: ")
    page.goto(live_server.url("/dashboard/queues/mail"))
    assert page.locator(f'tr[data-task="{summer.id}"] time').first.inner_text() == utc_text(SUMMER)
    assert page.evaluate("localStorage.getItem('taskq.dashboard.times')") == "utc"
    assert page.console_errors == [] and page.foreign_requests() == []


def test_the_choice_fits_a_phone(live_server, make_zoned_page, tmp_path):
    phone = log_in(live_server, make_zoned_page, "dashboard", viewport=PHONE)
    phone.locator('#times-choice button[data-times="local"]').click()
    for path in ("/dashboard/", "/dashboard/queues"):
        phone.goto(live_server.url(path))
        expect(phone.locator('#times-choice button[data-times="local"]')).to_have_attribute("aria-pressed", "true")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a phone"
    phone.screenshot(path=str(tmp_path / "local-times-phone.png"))
    assert phone.console_errors == [] and phone.foreign_requests() == []
