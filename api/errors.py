"""Every error becomes one body (api.envelope.error_body) in one place.

Domain errors from the engine map to HTTP here, not in views: not found ->
404, conflicts (wrong state, stale lease) -> 409, bad values -> 422.
Malformed JSON -> 400 (hostile bodies and URLs are refused before any view
by api.input_guard); schema violations, and engine refusals that name a
field, -> 422 with the fields in ``details`` and ``validationDetails``
([{field, message, value}]).
Anything unexpected is logged with its traceback and answered 500 without one.

The body's shape is the error style (api.error_styles) of the dialect the
request belongs to, as the app's dialect registry tells it (the matched
route's dialect, or the one whose paths the URL falls under); a request of
no dialect gets the shared ``error: {code, message, details}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import wraps
from typing import Any

import redis
from flask import Flask, current_app, g, jsonify
from werkzeug.exceptions import HTTPException

from taskq.errors import (Conflict, RedisFull, TaskExpired, TaskNotFound, TaskqError,
                          TaskqValueError)
from taskq.tls import certificate_problem

from . import error_styles

log = logging.getLogger("taskq.api")


class ApiError(Exception):
    """An error a view or hook raises with its HTTP status and code."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers, self.extra = details, headers or {}, extra


def _style() -> str:
    """The error style of the dialect the request belongs to (api.dialects.base)."""
    try:
        dialect = current_app.extensions["taskq.dialects"].for_request()
    except Exception:  # choosing a style must never turn an error answer into a 500
        return error_styles.DEFAULT
    return dialect.error_style if dialect is not None else error_styles.DEFAULT


def validation_as(code: str, message: str):
    """View decorator (outside its arguments): the 422s of this view's input
    carry ``code`` and ``message`` instead of ``validation_error`` and the
    generic text, as a document asks (Tasker's ``INVALID_TASK_CONFIG``)."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            g.validation_as = (code, message)
            return view(*args, **kwargs)
        return wrapper
    return decorator


def _validation_label(details: list[dict]) -> tuple[str, str]:
    code, message = g.get("validation_as") or ("validation_error", None)
    return code, message or "Validation failed: " + "; ".join(
        f"{d['field']}: {d['message']}" for d in details)[:1000]


def validation_error(details: list[dict]) -> ApiError:
    """A 422 like a schema violation's, from [{field, message, value}]."""
    return ApiError(422, *_validation_label(details),
                    {"fields": {d["field"]: [d["message"]] for d in details}},
                    extra={"validationDetails": details})


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited", 500: "internal_error", 503: "unavailable",
}


def respond(status: int, code: str, message: str, details: Any = None,
            headers: dict | None = None, extra: dict | None = None):
    resp = jsonify(error_styles.render(_style(), status, code, message, details, extra))
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


def _value_at(data: Any, path: str) -> Any:
    """The input value a validation message is about (None when absent)."""
    for part in path.split(".") if path else []:
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isascii() and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data if isinstance(data, (str, int, float, bool, type(None))) else None


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
        source = getattr(getattr(exc, "exc", None), "data", None)
        flat = [{**d, "value": _value_at(source, d["field"])} for d in _flatten(fields)]
        return respond(422, *_validation_label(flat), {"fields": fields}, headers,
                       {"validationDetails": flat})
    if status == 400 and messages:
        return respond(400, "malformed_request", "The request body could not be read: "
                       + "; ".join(d["message"] for d in _flatten(messages)), {"fields": messages},
                       headers)
    return respond(status, _HTTP_CODES.get(status, "http_error"),
                   data.get("message") or exc.description or exc.name, None, headers)


def handle_api_error(exc: ApiError):
    return respond(exc.status, exc.code, exc.message, exc.details, exc.headers, exc.extra)


def handle_taskq_error(exc: TaskqError):
    if isinstance(exc, RedisFull):
        return handle_store_full(exc)
    if isinstance(exc, TaskNotFound):  # not_found, or task_expired (removed by retention)
        return respond(404, "task_expired" if isinstance(exc, TaskExpired) else "not_found",
                       str(exc))
    if isinstance(exc, LookupError):  # workflow, step, handler, schedule not found
        return respond(404, exc.code, str(exc))
    if isinstance(exc, Conflict):
        return respond(409, exc.code, str(exc), {"status": exc.status} if exc.status else None)
    if isinstance(exc, TaskqValueError):
        field = getattr(exc, "field", None)  # taskq.options.InvalidField names one
        if field:
            return handle_api_error(validation_error([
                {"field": field, "message": getattr(exc, "reason", str(exc)), "value": None}]))
        return respond(422, exc.code, str(exc))
    log.exception("engine error")
    return respond(500, "internal_error", "internal error")


def handle_store_down(exc: Exception):
    """Redis unreachable (a view's read or the rate limiter's count): 503,
    the service is unavailable, not broken. A refused TLS certificate is
    logged with the setting that would accept it."""
    log.warning("data store unreachable: %s", certificate_problem(exc) or exc)
    return respond(503, "unavailable", "Service unavailable: the data store cannot be reached")


FULL_RETRY_AFTER = 5
"""Seconds a client is told to wait when Redis is full (Retry-After)."""


def one_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def handle_store_full(exc: Exception):
    """Redis refused a write (maxmemory under noeviction): 503 with its own
    code, in the dialect's style; the refused call wrote nothing."""
    log.warning("data store full, a write was refused: %s", one_line(exc))
    return respond(503, "redis_full", "Service unavailable: the data store is full and refuses "
                   "writes; nothing was written, retry later", None,
                   {"Retry-After": str(FULL_RETRY_AFTER)})


def handle_unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return handle_http(exc)
    log.exception("unhandled error")
    return respond(500, "internal_error", "internal error")


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(TaskqError, handle_taskq_error)
    app.register_error_handler(redis.ConnectionError, handle_store_down)
    app.register_error_handler(redis.TimeoutError, handle_store_down)
    app.register_error_handler(redis.exceptions.OutOfMemoryError, handle_store_full)
    app.register_error_handler(Exception, handle_unexpected)
