"""/tasker/api-docs (Swagger UI, from the installed swagger-ui-bundle
files the app serves under /api/docs/static/, no CDN) and
/tasker/api-docs.json (the app's OpenAPI document cut to the /tasker
paths). Both open: no credential needed."""

from __future__ import annotations

from flask import current_app, jsonify, render_template

from taskq import __version__

from ...openapi_subset import app_spec, subset
from .access import blueprint

blp = blueprint("Docs", "This dialect's OpenAPI document and its Swagger UI (no credential needed)")

INFO = {"title": "taskq Tasker API", "version": __version__, "description": (
    "The Tasker dialect of taskq on /tasker: handler discovery, tasks (workflow runs) and their "
    "steps, health and metrics. Authenticate with `Authorization: Bearer <JWT>` or "
    "`Authorization: ApiKey <key>`; each route names the Tasker permission it needs "
    "(`tasker.<resource>:<action>`, or the wildcards `tasker.<resource>:*` and `tasker.*`).")}
ERROR_REFS = {"#/components/schemas/Error": "#/components/schemas/TaskerError"}
"""Tasker errors have their own body: the shared error responses point at it here."""
SPEC_URL = "/tasker/api-docs.json"
HTML = {"text/html": {"schema": {"type": "string"}}}


@blp.route("/api-docs.json", methods=["GET"])
@blp.doc(security=[], responses={"200": {"description": "an OpenAPI 3 document",
                                         "content": {"application/json": {"schema": {"type": "object"}}}}})
def openapi_json():
    """This dialect's OpenAPI document: every /tasker route."""
    return jsonify(subset(app_spec(), "/tasker", INFO, ERROR_REFS))


@blp.route("/api-docs", methods=["GET"])
@blp.doc(security=[], responses={"200": {"description": "Swagger UI", "content": HTML}})
def swagger_ui():
    """Swagger UI over /tasker/api-docs.json."""
    return render_template("swagger_ui.html", title=INFO["title"], spec_url=SPEC_URL,
                           swagger_ui_url=current_app.config["OPENAPI_SWAGGER_UI_URL"],
                           swagger_ui_config={})
