"""GET /tasker/tasks/{task_id}/task_diagrams over HTTP: the JSON of a known
task, the HTML page (escaping, CSP, refresh), the served assets, hostile
step names, and the Tasker errors (422 format, 401, 403, 404)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from apihelpers import bearer
from diagram_helpers import HOSTILE_NAMES, advance, chain, rename_steps, start

from api.dialects.tasker import diagram_page
from taskq.keys import WorkflowKeys
from taskq.workflows import get

READER = bearer("tasker.task_diagram:index")


def url(task_id: str, fmt: str | None = None) -> str:
    return f"/tasker/tasks/{task_id}/task_diagrams" + (f"?format={fmt}" if fmt is not None else "")


def test_json_of_a_known_task(client, r, prefix):
    wf = start(r, prefix)
    advance(r, prefix, complete={"validate_order"}, hold={"charge_card"})
    took = {s["name"]: s["duration_ms"] for s in get(r, wf["id"], prefix=prefix)["steps"]}
    assert isinstance(took["validate_order"], int) and took["validate_order"] >= 0
    resp = client.get(url(wf["id"]), headers=READER)
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    base = f"/tasker/tasks/{wf['id']}/workflow_steps"

    def node(step, label, colour, status, ms=None):
        return {"id": step, "label": label, "shape": "rectangle", "style": f"fill:{colour}",
                "url": f"{base}/{step}", "attributes": {"status": status, "duration_ms": ms}}

    def edge(a, b):
        return {"source_id": a, "target_id": b, "label": "depends_on", "type": "dependency",
                "direction": "forward", "attributes": {}}

    assert resp.get_json() == {
        "nodes": [node("validate_order", "Validate Order", "#90EE90", "complete", took["validate_order"]),
                  node("charge_card", "Charge Card", "#FFE4B5", "in_progress"),
                  node("reserve_stock", "Reserve Stock", "#D3D3D3", "pending"),
                  node("ship_order", "Ship Order", "#D3D3D3", "pending")],
        "edges": [edge("validate_order", "charge_card"), edge("validate_order", "reserve_stock"),
                  edge("charge_card", "ship_order"), edge("reserve_stock", "ship_order")],
        "direction": "TD",
        "title": "shop.checkout@1.0.0",
        "attributes": {"task_id": wf["id"], "status": "in_progress"},
    }
    assert client.get(url(wf["id"], "json"), headers=READER).get_json() == resp.get_json()


def test_html_page_while_running_and_once_finished(client, r, prefix):
    wf = start(r, prefix)
    held = advance(r, prefix, complete={"validate_order"}, hold={"charge_card"})
    resp = client.get(url(wf["id"], "html"), headers=READER)
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert resp.headers["Content-Security-Policy"] == diagram_page.CSP
    assert "script-src 'self';" in diagram_page.CSP and "unsafe-eval" not in diagram_page.CSP
    assert resp.headers["Cache-Control"] == "no-store"
    page = resp.get_data(as_text=True)
    assert f'<meta http-equiv="refresh" content="{diagram_page.REFRESH_SECONDS}">' in page
    assert "<h1 id=\"title\">shop.checkout@1.0.0</h1>" in page
    assert 'data-status="in_progress"' in page
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert [s.split("?")[0] for s in scripts] == ["/tasker/assets/mermaid.min.js", "/tasker/assets/diagram.js"]
    assert "<script>" not in page and "http://" not in page and "https://" not in page
    source = re.search(r'<pre id="diagram-source">(.*?)</pre>', page, re.S).group(1)
    assert source.startswith("flowchart TD\n") and "s0 --&gt; s1" in source

    held["charge_card"].complete({})
    advance(r, prefix, complete={"reserve_stock", "ship_order"})
    page = client.get(url(wf["id"], "html"), headers=READER).get_data(as_text=True)
    assert 'data-status="complete"' in page
    assert "http-equiv=\"refresh\"" not in page and "refresh-note" not in page


def test_hostile_step_names_and_title_are_escaped(client, r, prefix):
    wf = start(r, prefix, chain(len(HOSTILE_NAMES)))
    rename_steps(r, prefix, wf["id"], HOSTILE_NAMES)
    r.hset(WorkflowKeys(prefix).workflow(wf["id"]), "namespace", '<script>alert("t")</script>')

    data = client.get(url(wf["id"]), headers=READER).get_json()
    assert [n["id"] for n in data["nodes"]] == HOSTILE_NAMES
    assert data["title"] == '<script>alert("t")</script>.chain@1.0.0'

    resp = client.get(url(wf["id"], "html"), headers=READER)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;.chain@1.0.0" in page
    assert page.count("<script") == 2 and "<img" not in page and "onerror=\"" not in page
    source = re.search(r'<pre id="diagram-source">(.*?)</pre>', page, re.S).group(1)
    # the Mermaid source: ASCII, nothing that is markup, one node line per step
    assert re.fullmatch(r"[A-Za-z0-9 #;:,/%._~?=&\-\[\]\n]*|.*", source)
    assert "<" not in source and "'" not in source and all(ord(c) < 128 for c in source)
    assert len(re.findall(r"^    s\d+\[", source, re.M)) == len(HOSTILE_NAMES)


def test_a_lone_surrogate_in_a_stored_name_is_no_500(client, r, prefix):
    wf = start(r, prefix, chain(2))
    rename_steps(r, prefix, wf["id"], ["ok", "bad \ud800"])
    assert client.get(url(wf["id"]), headers=READER).status_code == 200
    assert client.get(url(wf["id"], "html"), headers=READER).status_code == 200


@pytest.mark.parametrize("fmt", ["xml", "JSON", "", "html%00", "j" * 5000])
def test_unknown_format_is_422_in_tasker_shape(client, r, prefix, fmt):
    wf = start(r, prefix)
    resp = client.get(url(wf["id"], fmt), headers=READER)
    assert resp.status_code == 422
    err = resp.get_json()["error"]
    assert err["type"] == "ValidationError" and err["code"] == "VALIDATION_ERROR"
    assert list(err["details"]) == ["format"]


def test_unknown_task_is_404(client):
    for fmt in (None, "html"):
        resp = client.get(url(str(uuid.uuid4()), fmt), headers=READER)
        assert resp.status_code == 404
        err = resp.get_json()["error"]
        assert err["type"] == "TaskNotFound" and err["code"] == "TASK_NOT_FOUND"


def test_credentials_and_permission(client, r, prefix):
    wf = start(r, prefix)
    resp = client.get(url(wf["id"], "html"))
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "AUTHENTICATION_FAILED"
    resp = client.get(url(wf["id"]), headers={"Authorization": "Bearer not-a-token"})
    assert resp.status_code == 401
    resp = client.get(url(wf["id"]), headers=bearer("tasker.task:show", "tasks:read"))
    assert resp.status_code == 403
    assert resp.get_json()["error"] == {
        "type": "AuthorizationError", "code": "AUTHORIZATION_FAILED",
        "message": "Insufficient permissions for tasker.task_diagram:index",
        "details": {"required_permission": "tasker.task_diagram:index"}}
    for scopes in (("tasker.task_diagram:*",), ("tasker.*",), ("admin",)):
        assert client.get(url(wf["id"]), headers=bearer(*scopes)).status_code == 200
    # permission is checked before the query: no credential learns nothing from a 422
    assert client.get(url(wf["id"], "bogus")).status_code == 401


def test_assets_are_open_cached_and_limited_to_the_page_files(client, r, prefix):
    wf = start(r, prefix)
    page = client.get(url(wf["id"], "html"), headers=READER).get_data(as_text=True)
    for src in re.findall(r'(?:src|href)="(/tasker/assets/[^"]+)"', page):
        resp = client.get(src)
        assert resp.status_code == 200, src
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "Authorization" not in resp.headers.get("Vary", "")
    js = client.get("/tasker/assets/mermaid.min.js")
    assert js.mimetype == "text/javascript" and len(js.data) > 1_000_000
    for name in ("README.md", "mermaid.LICENSE", "..%2Froutes_diagrams.py", "%2e%2e/runtime.py", "nope.js"):
        resp = client.get(f"/tasker/assets/{name}")
        assert resp.status_code == 404, name
        assert resp.get_json()["error"]["type"] == "NotFound"


def test_the_diagram_is_documented_in_the_openapi_document(client):
    doc = json.loads(client.get("/api/docs.json").data)
    path = doc["paths"]["/tasker/tasks/{task_id}/task_diagrams"]
    op = path["get"]
    assert {p["name"] for p in path.get("parameters", []) + op["parameters"]} == {"task_id", "format"}
    assert set(op["responses"]["200"]["content"]) == {"application/json", "text/html"}


def test_without_a_fetched_mermaid_the_page_shows_the_source(client, r, prefix, monkeypatch, tmp_path):
    """mermaid.min.js is not in git (scripts/fetch_assets.py fetches it): a
    server without it answers the page with the diagram's text, not a 500."""
    from api.dialects.tasker import routes_diagrams
    for name in ("diagram.js", "favicon.svg"):
        (tmp_path / name).write_bytes((routes_diagrams.STATIC / name).read_bytes())
    monkeypatch.setattr(routes_diagrams, "STATIC", tmp_path)
    wf = start(r, prefix)
    resp = client.get(url(wf["id"], "html"), headers=READER)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "<script" not in page and 'id="diagram-missing"' in page
    assert "#diagram-source { display: none; }" not in page
    source = re.search(r'<pre id="diagram-source">(.*?)</pre>', page, re.S).group(1)
    assert source.startswith("flowchart TD\n")
    assert client.get("/tasker/assets/mermaid.min.js").status_code == 404
