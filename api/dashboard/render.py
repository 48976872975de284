"""Turning rendered pages into responses, and errors into pages.

Stored text may hold anything a producer wrote (a lone surrogate in an
error message, say), so HTML is encoded with replacement rather than
failing; every page says no-store and carries its Content-Security-Policy.
"""

from __future__ import annotations

from flask import Response, current_app, render_template, url_for

from ..errors import ApiError, handle_api_error, handle_taskq_error
from . import access

TASKER_ASSETS = "/tasker/assets/<name>"
"""Where the Tasker dialect serves its vendored Mermaid (when it is mounted)."""


def html_response(body: str, csp: str, status: int = 200) -> Response:
    resp = Response(body.encode("utf-8", "replace"), status=status, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = csp
    resp.headers["Cache-Control"] = "no-store"
    return resp


def mermaid_url() -> str | None:
    """The same-origin URL of the vendored Mermaid script, None when no
    dialect serves it or it was not fetched (the workflow page then shows the
    diagram's text). Found by its rule and the file the dialect names in
    app.extensions: the dashboard imports no dialect."""
    path = current_app.extensions.get("taskq.mermaid_file")
    if path is None or not path.is_file():
        return None
    for rule in current_app.url_map.iter_rules():
        if rule.rule == TASKER_ASSETS:
            return url_for(rule.endpoint, name="mermaid.min.js")
    return None


def error_page(status: int, code: str, message: str):
    from .pages import CSP

    body = render_template("dashboard/error.html", title=f"{status}", status=status, code=code, message=message,
                           session=access.current(), may_act=False, csrf_token="")
    return html_response(body, CSP, status)


def handle_error(exc):
    """Errors inside the dashboard: JSON for data endpoints and script
    calls (the API's own bodies), a page for a browser."""
    if access.wants_json():
        return handle_api_error(exc) if isinstance(exc, ApiError) else handle_taskq_error(exc)
    resp = handle_api_error(exc) if isinstance(exc, ApiError) else handle_taskq_error(exc)
    body = resp.get_json(silent=True) or {}
    err = body.get("error") if isinstance(body.get("error"), dict) else {}
    page = error_page(resp.status_code, err.get("code", "error"), err.get("message", "error"))
    for k in ("Retry-After",):
        if k in resp.headers:
            page.headers[k] = resp.headers[k]
    return page
