"""Every error becomes one body (api.envelope.error_body) in one place.

Domain errors from the engine map to HTTP here, not in views: not found ->
404, conflicts (wrong state, stale lease) -> 409, bad values -> 422.
Malformed JSON -> 400; schema violations -> 422 with the fields in
``details``. Anything unexpected is logged with its traceback and answered
500 without one.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from taskq.errors import Conflict, TaskNotFound, TaskqError, TaskqValueError

from .envelope import error_body

log = logging.getLogger("taskq.api")


class ApiError(Exception):
    """An error a view or hook raises with its HTTP status and code."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers or {}


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited", 500: "internal_error", 503: "unavailable",
}


def respond(status: int, code: str, message: str, details: Any = None,
            headers: dict | None = None, extra: dict | None = None):
    body = error_body(code, message, details)
    if extra:
        body.update(extra)
    resp = jsonify(body)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _flatten(messages: Any, path: str = "") -> list[dict]:
    """webargs' nested messages -> [{field, message}] (TaskDriver's validationDetails)."""
    if isinstance(messages, dict):
        out = []
        for k, v in messages.items():
            out += _flatten(v, f"{path}.{k}" if path else str(k))
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [{"field": path, "message": m} for m in messages]
    if isinstance(messages, list):
        return [x for m in messages for x in _flatten(m, path)]
    return [{"field": path, "message": str(messages)}]


def handle_http(exc: HTTPException):
    data = getattr(exc, "data", None) or {}
    status = exc.code or 500
    messages = data.get("messages") or data.get("errors")
    headers = dict(data.get("headers") or {})
    if getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    if status == 422 and messages:
        # webargs nests by location: {"json": {"name": [...]}}
        fields = {k: v for loc in messages.values() if isinstance(loc, dict) for k, v in loc.items()}
        return respond(422, "validation_error", "Validation failed: " + "; ".join(
            f"{d['field']}: {d['message']}" for d in _flatten(fields))[:1000],
            {"fields": fields}, headers, {"validationDetails": _flatten(fields)})
    if status == 400 and messages:
        return respond(400, "malformed_request", "The request body could not be read: "
                       + "; ".join(d["message"] for d in _flatten(messages)), {"fields": messages},
                       headers)
    return respond(status, _HTTP_CODES.get(status, "http_error"),
                   data.get("message") or exc.description or exc.name, None, headers)


def handle_api_error(exc: ApiError):
    return respond(exc.status, exc.code, exc.message, exc.details, exc.headers)


def handle_taskq_error(exc: TaskqError):
    if isinstance(exc, TaskNotFound):
        return respond(404, "not_found", str(exc))
    if isinstance(exc, Conflict):
        return respond(409, exc.code, str(exc), {"status": exc.status} if exc.status else None)
    if isinstance(exc, TaskqValueError):
        return respond(422, exc.code, str(exc))
    log.exception("engine error")
    return respond(500, "internal_error", "internal error")


def handle_unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return handle_http(exc)
    log.exception("unhandled error")
    return respond(500, "internal_error", "internal error")


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(TaskqError, handle_taskq_error)
    app.register_error_handler(Exception, handle_unexpected)
