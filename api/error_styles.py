"""The shapes an error body takes; each dialect names one in its descriptor
(api.dialects.base.Dialect.error_style), and api.errors renders the one of
the dialect a request belongs to.

- ``object``: ``{"success": false, "error": {code, message, details},
  "timestamp", "correlationId"}`` (the DTS document, and the default);
- ``string``: ``{"success": false, "error": "<message>", "code", ...}``
  (TaskDriver's clients do ``raise Exception(data['error'])``).

A dialect whose document has a shape of its own names its renderer instead
of a style (``(status, code, message, details, extra) -> body``, as the
Tasker dialect's bare ``{"error": {"type", ...}}``). ``extra`` (e.g.
``validationDetails`` on 422) sits beside ``error`` in these envelope styles.
"""

from __future__ import annotations

from typing import Any, Callable

from .envelope import correlation_id, now_iso

DEFAULT = "object"
"""The style of a request no dialect claims (health, docs, unknown paths)."""


def object_body(status: int, code: str, message: str, details: Any = None,
                extra: dict | None = None) -> dict:
    body = {"success": False, "error": {"code": code, "message": message, "details": details or {}},
            "timestamp": now_iso(), "correlationId": correlation_id()}
    body.update(extra or {})
    return body


def string_body(status: int, code: str, message: str, details: Any = None,
                extra: dict | None = None) -> dict:
    body = {"success": False, "error": message, "code": code,
            "timestamp": now_iso(), "correlationId": correlation_id()}
    if details:
        body["details"] = details
    body.update(extra or {})
    return body


STYLES: dict[str, Callable[..., dict]] = {"object": object_body, "string": string_body}
"""Style name -> renderer(status, code, message, details, extra)."""


def render(style: str | Callable[..., dict], status: int, code: str, message: str, details: Any = None,
           extra: dict | None = None) -> dict:
    """The body in ``style``: a name of STYLES (an unknown one: the default)
    or a dialect's own renderer."""
    body = style if callable(style) else STYLES.get(style, STYLES[DEFAULT])
    return body(status, code, message, details, extra)
