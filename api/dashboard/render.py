"""Turning rendered pages into responses, and errors into pages.

Stored text may hold anything a producer wrote (a lone surrogate in an
error message, say), so HTML is encoded with replacement rather than
failing; every page says no-store and carries its Content-Security-Policy.
"""

from __future__ import annotations

from flask import Response, current_app, render_template, url_for

from ..errors import ApiError, handle_api_error, handle_taskq_error
from . import access

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
"""Everything from this server, no inline script or style."""
CSP_DIAGRAM = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
"""The workflow page: Mermaid writes its styles into the SVG it draws
(scripts stay 'self' only)."""


def html_response(body: str, csp: str, status: int = 200) -> Response:
    resp = Response(body.encode("utf-8", "replace"), status=status, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = csp
    resp.headers["Cache-Control"] = "no-store"
    return resp


def mermaid_url() -> str | None:
    """The same-origin URL of the vendored Mermaid script, None when no
    dialect serves it or it was not fetched (the workflow page then shows the
    diagram's text). Found by the file and the endpoint a dialect names in
    app.extensions (``taskq.mermaid_file``, ``taskq.mermaid_endpoint``): the
    dashboard imports no dialect and knows none of its paths."""
    path = current_app.extensions.get("taskq.mermaid_file")
    endpoint = current_app.extensions.get("taskq.mermaid_endpoint")
    if path is None or endpoint is None or not path.is_file():
        return None
    return url_for(endpoint, name=path.name)


def error_page(status: int, code: str, message: str):
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
