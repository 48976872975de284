"""Tasker's error body, the descriptor's ``error_style`` (api.errors renders
it for every request of this dialect): ``{"error": {"type", "message",
"code", "details"}}`` with no envelope, as the Tasker document shows.
``type`` names the kind of failure (``HandlerNotFound`` for a 404
``handler_not_found``, else by status), ``code`` is the upper-case code,
``details`` only when there are some; on a 422 naming fields, ``details``
maps each field to its messages, as the document's ``{"namespace": ["must
be present"]}``. ``extra`` (e.g. ``validationDetails``) goes inside
``error.details``, except the 422 field list, which becomes the field map.
"""

from __future__ import annotations

from typing import Any

TYPES = {
    400: "BadRequest", 401: "AuthenticationError", 403: "AuthorizationError", 404: "NotFound",
    405: "MethodNotAllowed", 409: "Conflict", 413: "PayloadTooLarge", 415: "UnsupportedMediaType",
    422: "ValidationError", 429: "RateLimitExceeded", 503: "ServiceUnavailable",
}
"""HTTP status -> the Tasker document's error ``type`` (others: InternalError)."""


def _type(status: int, code: str) -> str:
    if status == 404 and code.endswith("_not_found") and code != "not_found":
        return "".join(part.capitalize() for part in code.split("_"))
    return TYPES.get(status, "InternalError")


def _field_messages(details: dict, extra: dict) -> dict[str, list[str]] | None:
    """A 422's fields as the Tasker document shows them: field -> messages
    (from the flat ``validationDetails``, whose paths name nested fields,
    else from ``details["fields"]`` when it is already such a map)."""
    flat = extra.get("validationDetails")
    if not isinstance(flat, list) or not flat:
        given = details.get("fields")
        if isinstance(given, dict) and given and all(
                isinstance(v, list) and all(isinstance(m, str) for m in v) for v in given.values()):
            return {str(k): list(v) for k, v in given.items()}
        return None
    out: dict[str, list[str]] = {}
    for d in flat:
        out.setdefault(str(d.get("field") or "(body)"), []).append(str(d.get("message")))
    return out


def tasker_body(status: int, code: str, message: str, details: Any = None,
                extra: dict | None = None) -> dict:
    error = {"type": _type(status, code), "message": message, "code": code.upper()}
    details, extra = dict(details or {}), dict(extra or {})
    fields = _field_messages(details, extra) if status == 422 else None
    if fields is not None:
        details.pop("fields", None)
        extra.pop("validationDetails", None)
        merged = {**fields, **details, **extra}
    else:
        merged = {**details, **extra}
    if merged:
        error["details"] = merged
    return {"error": error}
