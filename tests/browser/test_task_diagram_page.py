"""The task diagram page (GET /tasker/tasks/{id}/task_diagrams?format=html)
in headless Chromium: Mermaid, served by taskq itself, draws one node per
step in its status colour, linked to the step; the page refreshes itself
while the task runs and stops once it is complete; hostile step names are
shown as text and run nothing; no request leaves 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from diagram_helpers import HOSTILE_NAMES, advance, chain, rename_steps, start

from api.dialects.tasker import diagram_page
from taskq.workflows.diagram import STATUS_COLOURS, step_label

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "images" / "task-diagram.png"
"""Rewritten when TASKQ_UPDATE_SCREENSHOTS=1 (docs/http/tasker.md shows it)."""

NODES_JS = """() => Array.from(document.querySelectorAll('#diagram g.node')).map(g => {
  const link = g.closest('a');
  const shape = g.querySelector('rect, polygon, path');
  return {
    classes: Array.from(g.classList),
    href: link ? (link.getAttribute('xlink:href') || link.getAttribute('href')) : null,
    label: g.querySelector('.nodeLabel, text').textContent,
    fill: shape ? getComputedStyle(shape).fill : null,
  };
})"""


def rgb(colour: str) -> str:
    """#90EE90 -> rgb(144, 238, 144), as getComputedStyle reports it."""
    return "rgb({}, {}, {})".format(*(int(colour[i:i + 2], 16) for i in (1, 3, 5)))


def open_diagram(page, live_server, workflow_id: str):
    page.goto(live_server.url(f"/tasker/tasks/{workflow_id}/task_diagrams?format=html"))
    page.wait_for_selector("#diagram[data-rendered]", timeout=15_000)
    assert page.get_attribute("#diagram", "data-rendered") == "true", page.inner_text("#diagram")
    page.wait_for_selector("#diagram svg g.node", timeout=5_000)
    return {n["label"]: n for n in page.evaluate(NODES_JS)}


def test_page_draws_steps_by_status_and_stops_refreshing_when_complete(
        r, prefix, live_server, make_page, monkeypatch, tmp_path):
    wf = start(r, prefix)
    held = advance(r, prefix, complete={"validate_order", "charge_card"}, hold={"reserve_stock"})
    page = make_page(headers=live_server.auth("tasker.task_diagram:index"))
    nodes = open_diagram(page, live_server, wf["id"])

    expected = {"validate_order": "complete", "charge_card": "complete",
                "reserve_stock": "in_progress", "ship_order": "pending"}
    assert set(nodes) == {step_label(s) for s in expected}
    for step, status in expected.items():
        node = nodes[step_label(step)]
        assert f"status_{status}" in node["classes"] and "clickable" in node["classes"]
        assert node["fill"] == rgb(STATUS_COLOURS[status]), (step, node)
        assert node["href"] == f"/tasker/tasks/{wf['id']}/workflow_steps/{step}"
    assert page.inner_text("#title") == "shop.checkout@1.0.0"
    assert page.get_attribute("#status", "data-status") == "in_progress"
    legend = page.eval_on_selector_all("#legend li", "els => els.map(e => e.dataset.status)")
    assert legend == list(STATUS_COLOURS)
    refresh = int(page.locator("meta[http-equiv=refresh]").get_attribute("content"))
    assert refresh == diagram_page.REFRESH_SECONDS
    assert len(page.locator("#diagram svg g.edgePaths path").all()) == 4

    shot = tmp_path / "task-diagram.png"
    page.set_viewport_size({"width": 900, "height": 430})
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("TASKQ_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)

    # the task finishes; the page reloads itself once more and then stays
    # (pages rendered from here on would refresh every second)
    monkeypatch.setattr(diagram_page, "REFRESH_SECONDS", 1)
    held["reserve_stock"].complete({"step": "reserve_stock"})
    advance(r, prefix, complete={"ship_order"})
    page.wait_for_selector("#status[data-status=complete]", timeout=(refresh + 7) * 1000)
    page.wait_for_selector("#diagram[data-rendered=true]", timeout=15_000)
    nodes = page.evaluate(NODES_JS)
    assert [n["fill"] for n in nodes] == [rgb(STATUS_COLOURS["complete"])] * 4
    assert page.locator("meta[http-equiv=refresh]").count() == 0
    assert page.locator("#refresh-note").count() == 0
    loads = sum("task_diagrams" in u for u in page.requests)
    time.sleep(2.5)  # over twice the refresh interval: a refreshing page would have reloaded
    assert sum("task_diagrams" in u for u in page.requests) == loads
    assert page.console_errors == []
    assert page.foreign_requests() == []
    assert any("/tasker/assets/mermaid.min.js" in u for u in page.requests)

    # a click on a node opens its step (answered here: the step route is another module's)
    page.route("**/workflow_steps/**", lambda route: route.fulfill(status=200, body="step"))
    with page.expect_navigation() as nav:
        page.click("#diagram g.node:has-text('Reserve Stock')")
    assert nav.value.url == live_server.url(f"/tasker/tasks/{wf['id']}/workflow_steps/reserve_stock")


def test_hostile_step_names_are_shown_as_text_and_run_nothing(r, prefix, live_server, make_page):
    wf = start(r, prefix, chain(len(HOSTILE_NAMES)))
    rename_steps(r, prefix, wf["id"], HOSTILE_NAMES)
    page = make_page(headers=live_server.auth("admin"))
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    nodes = open_diagram(page, live_server, wf["id"])

    labels = [step_label(n) for n in HOSTILE_NAMES]
    # each label is one node's text, whitespace aside (a newline shows as a space)
    assert sorted(" ".join(x.split()) for x in nodes) == sorted(" ".join(x.split()) for x in labels)
    assert len(nodes) == len(HOSTILE_NAMES)  # no label broke out into nodes of its own
    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == []
    assert page.locator("#diagram script, #diagram img, #diagram iframe, #diagram [onerror]").count() == 0
    assert page.locator("script").count() == 2  # mermaid.min.js and diagram.js, nothing injected
    # Mermaid's URL sanitiser decodes the link (the DOM attribute holds the
    # raw name) or, with markup-like text, drops it; never another target
    links = [n["href"] for n in nodes.values() if n["href"] is not None]
    assert links and all(h.startswith(f"/tasker/tasks/{wf['id']}/workflow_steps/") for h in links)
    assert page.console_errors == []
    assert page.foreign_requests() == []


def test_assets_are_served_without_credentials_and_cached(live_server, make_page):
    page = make_page()
    resp = page.goto(live_server.url("/tasker/assets/mermaid.min.js"))
    assert resp.status == 200
    assert "javascript" in resp.headers["content-type"]
    assert "max-age=31536000" in resp.headers["cache-control"]
    assert page.goto(live_server.url("/tasker/assets/README.md")).status == 404


@pytest.mark.parametrize("scopes, status", [((), 401), (("tasker.task:show",), 403)])
def test_page_needs_the_diagram_permission(r, prefix, live_server, make_page, scopes, status):
    wf = start(r, prefix)
    headers = live_server.auth(*scopes) if scopes else {}
    page = make_page(headers=headers)
    resp = page.goto(live_server.url(f"/tasker/tasks/{wf['id']}/task_diagrams?format=html"))
    assert resp.status == status
