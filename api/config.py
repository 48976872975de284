"""Configuration of the HTTP app: defaults, then TASKQ_* environment
variables, then the dict given to ``create_app(config=...)`` (tests pass a
Redis client and their own key prefix there)."""

from __future__ import annotations

import os
from typing import Any

DEFAULTS: dict[str, Any] = {
    "REDIS": None,                    # a redis-py client (decode_responses=True); else REDIS_URL
    "REDIS_URL": None,
    "TASKQ_PREFIX": "taskq",
    "TASKQ_JWT_SECRET": None,         # HS256 secret; without it JWTs are refused
    "TASKQ_RATE_LIMIT": "100/900",    # requests / seconds per token (or key)
    "TASKQ_RATE_LIMIT_IP": None,      # per client IP for anonymous calls; default TASKQ_RATE_LIMIT
    "TASKQ_CORS_ORIGINS": "",         # comma-separated origins, or "*"
    "TASKQ_DTS_QUEUE": "dts",         # the engine queue holding DTS tasks
    "TASKQ_TRUSTED_PROXIES": 0,       # X-Forwarded-* hops to trust (1 on Heroku)
    "TASKQ_METRICS": True,            # serve /metrics
}

_ENV = {
    "REDIS_URL": str, "TASKQ_PREFIX": str, "TASKQ_JWT_SECRET": str, "TASKQ_RATE_LIMIT": str,
    "TASKQ_RATE_LIMIT_IP": str, "TASKQ_CORS_ORIGINS": str, "TASKQ_DTS_QUEUE": str,
    "TASKQ_TRUSTED_PROXIES": int,
    "TASKQ_METRICS": lambda v: v.lower() not in ("0", "false", "no", "off"),
}


def load(overrides: dict | None = None) -> dict[str, Any]:
    cfg = dict(DEFAULTS)
    for name, cast in _ENV.items():
        if os.environ.get(name):
            cfg[name] = cast(os.environ[name])
    cfg.update(overrides or {})
    return cfg


def parse_rate(text: str | None) -> tuple[int, int] | None:
    """'100/900' -> (100 requests, 900 seconds); '0' or 'off' -> no limit."""
    if text is None or str(text).strip().lower() in ("", "0", "off", "none"):
        return None
    count, _, window = str(text).partition("/")
    limit, seconds = int(count), int(window or 60)
    if limit <= 0 or seconds <= 0:
        raise ValueError(f"bad rate limit {text!r}: want '<requests>/<seconds>'")
    return limit, seconds
