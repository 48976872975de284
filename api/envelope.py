"""The bodies every /api response shares.

Success: ``{"success": true, "data": ..., "meta": ...}`` (DTS clients read
data/meta, TaskDriver clients also check success). Error bodies come in the
styles of api.error_styles. The correlation id of the request is kept on
``flask.g``.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from typing import Any

from flask import g, has_request_context, request

from taskq.isotime import iso

_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
CORRELATION_HEADERS = ("X-Request-ID", "X-Correlation-ID")


def now_iso() -> str:
    return iso(datetime.now(timezone.utc))


def new_id() -> str:
    """32 random hex digits (what uuid4().hex looked like, at a ninth of its cost)."""
    return os.urandom(16).hex()


def correlation_id() -> str:
    """The request's correlation id: the caller's X-Request-ID or
    X-Correlation-ID when it is a sane token, else a new one."""
    if not has_request_context():
        return new_id()
    cid = getattr(g, "correlation_id", None)
    if cid is None:
        for header in CORRELATION_HEADERS:
            value = request.headers.get(header, "")
            if _ID_RE.match(value):
                cid = value
                break
        else:
            cid = f"req-{new_id()}"
        g.correlation_id = cid
    return cid


def ok(data: Any = None, meta: Any = None) -> dict:
    body = {"success": True, "data": data}
    if meta is not None:
        body["meta"] = meta
    return body


def page_meta(page: int, limit: int, total: int) -> dict:
    return {"page": page, "limit": limit, "total": total, "pages": -(-total // limit)}
