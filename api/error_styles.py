"""The shapes an error body takes; each dialect names one in its descriptor
(api.dialects.base.Dialect.error_style), and api.errors renders the one of
the dialect a request belongs to.

- ``object``: ``{"success": false, "error": {code, message, details},
  "timestamp", "correlationId"}`` (the DTS document, and the default);
- ``string``: ``{"success": false, "error": "<message>", "code", ...}``
  (TaskDriver's clients do ``raise Exception(data['error'])``);
- ``tasker``: ``{"error": {"type", "message", "code", "details"}}`` with no
  envelope (the Tasker document): ``type`` names the kind of failure,
  ``code`` is the upper-case code, ``details`` only when there are some.

``extra`` (e.g. ``validationDetails`` on 422) sits beside ``error`` in the
envelope styles and inside ``error.details`` in the Tasker one.
"""

from __future__ import annotations

from typing import Any, Callable

from .envelope import correlation_id, now_iso

DEFAULT = "object"
"""The style of a request no dialect claims (health, docs, unknown paths)."""

TASKER_TYPES = {
    400: "BadRequest", 401: "AuthenticationError", 403: "AuthorizationError", 404: "NotFound",
    405: "MethodNotAllowed", 409: "Conflict", 413: "PayloadTooLarge", 415: "UnsupportedMediaType",
    422: "ValidationError", 429: "RateLimitExceeded", 503: "ServiceUnavailable",
}
"""HTTP status -> the Tasker document's error ``type`` (others: InternalError)."""


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


def tasker_body(status: int, code: str, message: str, details: Any = None,
                extra: dict | None = None) -> dict:
    error = {"type": TASKER_TYPES.get(status, "InternalError"), "message": message,
             "code": code.upper()}
    merged = {**(details or {}), **(extra or {})}
    if merged:
        error["details"] = merged
    return {"error": error}


STYLES: dict[str, Callable[..., dict]] = {
    "object": object_body, "string": string_body, "tasker": tasker_body}
"""Style name -> renderer(status, code, message, details, extra)."""


def render(style: str, status: int, code: str, message: str, details: Any = None,
           extra: dict | None = None) -> dict:
    return STYLES.get(style, STYLES[DEFAULT])(status, code, message, details, extra)
