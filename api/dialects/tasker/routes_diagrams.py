"""GET /tasker/tasks/{task_id}/task_diagrams: a workflow's DAG as the Tasker
document's JSON, or (format=html) a page that draws it with Mermaid; and
GET /tasker/assets/<name>, the page's scripts, served by taskq itself and
without credentials (the descriptor's open_paths) so the page needs no other
host."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import Response, request, send_from_directory, url_for

from taskq.workflows.diagram import mermaid, task_diagram

from ...errors import ApiError
from . import access, diagram_page, lookup
from .schemas_diagrams import DiagramArgsSchema, TaskDiagramSchema

blp = access.blueprint("Task Diagrams", "A task's steps and dependencies as a diagram (JSON or HTML)")

DIAGRAM_RULE = "/tasks/<task_id>/task_diagrams"
STATIC = Path(__file__).parent / "static"
ASSETS = ("mermaid.min.js", "diagram.js", "favicon.svg")
"""The files under static/ that /assets serves; nothing else there is.
mermaid.min.js is not kept in git: scripts/fetch_assets.py fetches it (the
set-up commands run it); without it the page shows the diagram's text."""
MERMAID = STATIC / "mermaid.min.js"
blp.record_once(lambda state: state.app.extensions.update({
    "taskq.mermaid_file": MERMAID, "taskq.mermaid_endpoint": f"{blp.name}.asset"}))
"""The dashboard finds the vendored Mermaid through these (it imports no
dialect): the file, and the endpoint serving it (``url_for(endpoint,
name="mermaid.min.js")``)."""
ASSET_MAX_AGE = 365 * 24 * 3600
"""Assets are cached for a year: their URLs carry a hash of their content."""


@cache
def _asset_version(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def _asset_url(name: str) -> str | None:
    """The asset's URL, None when the file is not there (Mermaid not fetched)."""
    if not (STATIC / name).is_file():
        return None
    return url_for(".asset", name=name, v=_asset_version(name))


def _mount_prefix() -> str:
    """Where the Tasker routes are mounted (e.g. ``/tasker``), script root included."""
    rule = request.url_rule.rule
    return request.script_root + rule[:len(rule) - len(DIAGRAM_RULE)]


@blp.route(DIAGRAM_RULE)
@access.permission("tasker.task_diagram:index")
@blp.arguments(DiagramArgsSchema, location="query")
@blp.response(200, TaskDiagramSchema)
@blp.doc(responses={"200": {"description": "the diagram; with format=html, the page", "content": {
    "application/json": {"schema": TaskDiagramSchema}, "text/html": {"schema": {"type": "string"}}}}})
@blp.alt_response(404, description="no task with this id")
def task_diagrams(args, task_id):
    """The task's steps as nodes (coloured by status, linked to the step)
    and its dependencies as edges; format=html answers a page that draws
    them and refreshes itself until the task is complete, error or cancelled."""
    diagram = task_diagram(lookup.task(task_id), _mount_prefix())
    headers = {"Cache-Control": "no-store"}
    if args["format"] == "json":
        return diagram, headers
    page = diagram_page.render(diagram, mermaid(diagram), {
        "mermaid": _asset_url("mermaid.min.js"), "script": _asset_url("diagram.js"),
        "icon": _asset_url("favicon.svg"),
        "json": url_for(".task_diagrams", task_id=task_id, format="json")})
    resp = Response(page, mimetype="text/html")
    resp.headers.update(headers)
    resp.headers["Content-Security-Policy"] = diagram_page.CSP
    return resp


@blp.route("/assets/<name>")
@blp.doc(responses={"200": {"description": "the file", "content": {
    "text/javascript": {"schema": {"type": "string"}}, "image/svg+xml": {"schema": {"type": "string"}}}}})
@blp.alt_response(404, description="no such asset")
def asset(name):
    """The task diagram page's scripts (Mermaid and taskq's diagram.js) and icon; no
    credentials needed, cached for a year (the page's URLs carry a hash)."""
    if name not in ASSETS:
        raise ApiError(404, "not_found", "no such asset")
    resp = send_from_directory(STATIC, name, max_age=ASSET_MAX_AGE, conditional=True)
    resp.cache_control.immutable = True
    return resp
