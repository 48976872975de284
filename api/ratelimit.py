"""Fixed-window rate limits counted in Redis, so every gunicorn worker (and
every dyno) shares one count per caller.

A caller is its token subject or API key when authenticated, else its IP.
Each window is one key (``ApiKeys.rate``) incremented and given a TTL in
one round trip; the key names the window, so a new window starts at zero
(the model of Rack::Attack's throttle and express-rate-limit, which the
API documents name: X-RateLimit-Reset is when the full budget is back).
POST /api/auth/login also counts against a stricter budget per client IP
(TASKQ_LOGIN_RATE_LIMIT), so a project id cannot be guessed at speed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from taskq.keys import ApiKeys

from .config import ConfigError, parse_rate
from .errors import ApiError

log = logging.getLogger("taskq.api")

_WARNED: set[str] = set()
_WARN_AT_MOST = 1000
"""Credentials whose bad own limit this process has already logged."""


def clock() -> float:
    """The epoch seconds windows are counted in (tests pin it, so a test's
    requests never straddle a window boundary)."""
    return time.time()


@dataclass(frozen=True)
class RateState:
    limit: int
    remaining: int
    reset: int          # epoch seconds when the window ends

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(max(0, self.remaining)),
                "X-RateLimit-Reset": str(self.reset)}


def hit(redis, keys: ApiKeys, identity: str, limit: int, window: int,
        now: float | None = None) -> RateState:
    """Count one request of ``identity``; ``exceeded`` once past ``limit``."""
    now = clock() if now is None else now
    n = int(now // window)
    key = keys.rate(identity, n)
    pipe = redis.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window + 1)
    count = pipe.execute()[0]
    return RateState(limit, limit - count, (n + 1) * window)


def own_rate(identity: str, text: str | None, default: tuple[int, int] | None):
    """A credential's own limit; ``default`` when it has none or when the
    stored one cannot be read (logged once per credential and process,
    never a 500 for the caller)."""
    if not text:
        return default
    try:
        return parse_rate(text, "rate_limit")
    except ConfigError as exc:
        if identity not in _WARNED and len(_WARNED) < _WARN_AT_MOST:
            _WARNED.add(identity)
            log.warning("credential %s: %s; using the default limit", identity, exc)
        return default


def count(redis, keys: ApiKeys, identity: str, rate: tuple[int, int] | None) -> RateState | None:
    """Count one request of ``identity`` against ``rate`` (None: no limit)."""
    return None if rate is None else hit(redis, keys, identity, *rate)


def too_many(state: RateState, message: str = "rate limit of {limit} requests exceeded") -> ApiError:
    """The 429 for a spent budget, with Retry-After."""
    retry = max(1, state.reset - int(clock()))
    return ApiError(429, "rate_limited", message.format(limit=state.limit),
                    {"limit": state.limit, "reset": state.reset}, {"Retry-After": str(retry)})
