"""Configuration of the HTTP app: defaults, then TASKQ_* environment
variables, then the dict given to ``create_app(config=...)`` (tests pass a
Redis client and their own key prefix there).

:func:`check` validates the settings once, at start-up, and raises
:class:`ConfigError` whose message is one line naming the setting, its
value and what is expected; gunicorn's master runs it before forking
workers (api/gunicorn_conf.py), so a typo stops the web process with that
line instead of a traceback per worker boot.
"""

from __future__ import annotations

import os
import re
from typing import Any

DEFAULTS: dict[str, Any] = {
    "REDIS": None,                    # a redis-py client (decode_responses=True); else REDIS_URL
    "REDIS_URL": None,
    "TASKQ_PREFIX": "taskq",
    "TASKQ_JWT_SECRET": None,         # HS256 secret; without it JWTs are refused
    "TASKQ_RATE_LIMIT": "100/900",    # requests per window per token (or key)
    "TASKQ_RATE_LIMIT_IP": None,      # per client IP for anonymous calls; default TASKQ_RATE_LIMIT
    "TASKQ_LOGIN_RATE_LIMIT": "10/minute",  # POST /api/auth/login per client IP, on top of the above
    "TASKQ_CORS_ORIGINS": "",         # comma-separated origins, or "*"
    "TASKQ_TRUSTED_PROXIES": 0,       # X-Forwarded-* hops to trust (1 on Heroku)
    "TASKQ_METRICS": True,            # serve /metrics
    "TASKQ_METRICS_TOKEN": None,      # when set, /metrics* need it as a bearer token (or system:read)
    "TASKQ_DASHBOARD_RATE_LIMIT": "600/minute",  # requests per dashboard session (pages poll every 2 s)
    "TASKQ_DASHBOARD_SESSION_TTL": 28800,        # seconds a dashboard login lasts (capped by a JWT's exp)
    "TASKQ_SCHEDULE_FUNCTIONS": "",   # the schedule service's allow-list (api.services.schedules)
}

RATE_SETTINGS = ("TASKQ_RATE_LIMIT", "TASKQ_RATE_LIMIT_IP", "TASKQ_LOGIN_RATE_LIMIT",
                 "TASKQ_DASHBOARD_RATE_LIMIT")
"""Settings holding a rate limit (see :func:`parse_rate`)."""

_ENV = {
    "REDIS_URL": str, "TASKQ_PREFIX": str, "TASKQ_JWT_SECRET": str, "TASKQ_RATE_LIMIT": str,
    "TASKQ_RATE_LIMIT_IP": str, "TASKQ_LOGIN_RATE_LIMIT": str, "TASKQ_CORS_ORIGINS": str,
    "TASKQ_TRUSTED_PROXIES": str, "TASKQ_METRICS_TOKEN": str,
    "TASKQ_DASHBOARD_RATE_LIMIT": str, "TASKQ_DASHBOARD_SESSION_TTL": str, "TASKQ_SCHEDULE_FUNCTIONS": str,
    "TASKQ_METRICS": lambda v: v.lower() not in ("0", "false", "no", "off"),
}

UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
"""Window names a rate limit may use (also plural): ``100/minute``."""
RATE_FORMS = "N/second, N/minute, N/hour, N/day or N/<seconds> (e.g. 100/minute, 100/900), or off"
"""What a rate limit looks like, for error messages."""
_RATE_RE = re.compile(r"^\s*(\d+)\s*(?:/\s*(?:(\d+)|([a-z]+?)s?))?\s*$")


class ConfigError(ValueError):
    """A setting with a value taskq cannot use; the message is one line."""

    def __init__(self, setting: str, value: Any, expected: str):
        super().__init__(f"{setting}={value!r} is not valid: expected {expected}")
        self.setting, self.value, self.expected = setting, value, expected


def load(overrides: dict | None = None) -> dict[str, Any]:
    cfg = dict(DEFAULTS)
    for name, cast in _ENV.items():
        if os.environ.get(name):
            cfg[name] = cast(os.environ[name])
    cfg.update(overrides or {})
    return cfg


def parse_rate(text: str | None, setting: str = "rate limit") -> tuple[int, int] | None:
    """A rate limit as (requests, window seconds), None for no limit.

    ``100/minute`` (second, minute, hour, day, also plural), ``100/900``
    (a window in seconds); ``0``, ``off`` or ``none``: no limit. Anything
    else raises ConfigError naming ``setting``, a bare ``100`` too (its
    window would be a guess)."""
    if text is None or str(text).strip().lower() in ("", "0", "off", "none"):
        return None
    m = _RATE_RE.match(str(text).lower())
    if m is None:
        raise ConfigError(setting, text, RATE_FORMS)
    count, seconds, unit = m.groups()
    if unit is not None:
        if unit not in UNITS:
            raise ConfigError(setting, text, RATE_FORMS)
        window = UNITS[unit]
    elif seconds is not None:
        window = int(seconds)
    else:
        raise ConfigError(setting, text, RATE_FORMS)
    if int(count) <= 0 or window <= 0:
        raise ConfigError(setting, text, RATE_FORMS)
    return int(count), window


def check(cfg: dict[str, Any]) -> dict[str, Any]:
    """Validate ``cfg`` (from :func:`load`); the parsed values the app uses.
    Raises ConfigError (one line) for the first bad setting."""
    rates = {name: parse_rate(cfg.get(name), name) for name in RATE_SETTINGS}
    if not cfg.get("TASKQ_RATE_LIMIT_IP"):
        rates["TASKQ_RATE_LIMIT_IP"] = rates["TASKQ_RATE_LIMIT"]
    proxies = cfg.get("TASKQ_TRUSTED_PROXIES") or 0
    try:
        proxies = int(proxies)
        if proxies < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError("TASKQ_TRUSTED_PROXIES", cfg.get("TASKQ_TRUSTED_PROXIES"),
                          "a whole number of proxy hops, 0 or more") from None
    dash_ttl = cfg.get("TASKQ_DASHBOARD_SESSION_TTL")
    try:
        dash_ttl = int(dash_ttl)
        if not 60 <= dash_ttl <= 30 * 86400:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError("TASKQ_DASHBOARD_SESSION_TTL", cfg.get("TASKQ_DASHBOARD_SESSION_TTL"),
                          "whole seconds from 60 to 2592000 (30 days)") from None
    token = cfg.get("TASKQ_METRICS_TOKEN")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise ConfigError("TASKQ_METRICS_TOKEN", token, "a non-empty secret")
    _check_redis_tls(cfg)
    return {"rate": rates["TASKQ_RATE_LIMIT"], "rate_ip": rates["TASKQ_RATE_LIMIT_IP"],
            "rate_login": rates["TASKQ_LOGIN_RATE_LIMIT"], "trusted_proxies": proxies,
            "metrics_token": token.strip() if token else None,
            "rate_dashboard": rates["TASKQ_DASHBOARD_RATE_LIMIT"], "dashboard_ttl": dash_ttl}


def _check_redis_tls(cfg: dict[str, Any]) -> None:
    """The TASKQ_REDIS_SSL_* settings and TLS parameters of REDIS_URL
    (taskq.tls), when the app will make its client from the URL."""
    url = cfg.get("REDIS_URL")
    if cfg.get("REDIS") is not None or not url:
        return
    from taskq.tls import TlsSettingError, tls_kwargs

    try:
        tls_kwargs(url)
    except TlsSettingError as exc:
        raise ConfigError(exc.setting, exc.value, exc.expected) from None
