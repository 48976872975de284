"""``GET /``: where a newcomer's first request lands. A browser (it asks
for HTML) is sent on to the dashboard; anything else gets a small JSON map
of the surfaces, so ``curl http://host/`` answers something useful rather
than a 404. No credentials are needed and nothing secret is shown: only
paths that are public knowledge anyway (the OpenAPI document lists them)."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, redirect, request, url_for

from .dashboard import URL_PREFIX as DASHBOARD


def surfaces(metrics: bool) -> dict:
    """Path of each surface, root-relative (behind a proxy's path prefix too):
    the shared ones, then each dialect's mount not yet listed (by its name;
    a dialect at the root has none)."""
    root = request.script_root
    paths = {"api": "/api", "docs": "/api/docs", "openapi": "/api/docs.json",
             "dashboard": DASHBOARD + "/", "health": "/health"}
    for d in current_app.extensions.get("taskq.dialects") or ():
        if d.url_prefix and d.url_prefix not in paths.values():
            paths.setdefault(d.name, d.url_prefix)
    if metrics:
        paths["metrics"] = "/metrics"
    return {name: root + path for name, path in paths.items()}


def register(app: Flask, metrics: bool) -> None:
    def index():
        wants_html = (request.accept_mimetypes.best_match(["application/json", "text/html"])
                      == "text/html")
        if wants_html:
            resp = redirect(url_for("dashboard.overview"), code=302)
        else:
            resp = jsonify({"name": "taskq", "links": surfaces(metrics)})
        resp.headers["Vary"] = "Accept"  # one URL, two answers: caches must keep both
        return resp

    app.add_url_rule("/", "index", index, methods=["GET"])
