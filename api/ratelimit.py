"""Fixed-window rate limits counted in Redis, so every gunicorn worker (and
every dyno) shares one count per caller.

A caller is its token subject or API key when authenticated, else its IP.
Each window is one key (``ApiKeys.rate``), created with its TTL (SET NX EX)
and incremented; every budget a request counts against goes in one round
trip. The key names the window, so a new window starts at zero
(the model of Rack::Attack's throttle and express-rate-limit, which the
API documents name: X-RateLimit-Reset is when the full budget is back).
POST /api/auth/login also counts against a stricter budget per client IP
(TASKQ_LOGIN_RATE_LIMIT), so a project id cannot be guessed at speed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from taskq.errors import is_oom
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
    return hit_many(redis, keys, [(identity, (limit, window))], now)[0][0]


def hit_many(redis, keys: ApiKeys, budgets: list[tuple[str, tuple[int, int]]],
             now: float | None = None, read: tuple[str, str] | None = None) -> tuple[list[RateState], Any]:
    """Count one request against each ``(identity, (limit, window))``, all in
    one round trip: per budget, SET NX EX (the window's key is born with its
    TTL, never left without one) then INCR. ``read``: a (hash, field) the
    request needs too, read in the same round trip; its value comes second.
    A full Redis (maxmemory) refuses the counts: the request goes on
    uncounted (its reads still work; its writes get their own 503)."""
    now = clock() if now is None else now
    pipe = redis.pipeline(transaction=False)
    resets = []
    for identity, (limit, window) in budgets:
        n = int(now // window)
        key = keys.rate(identity, n)
        pipe.set(key, 0, ex=window + 1, nx=True)
        pipe.incr(key)
        resets.append((n + 1) * window)
    if read is not None:
        pipe.hget(*read)
    replies = pipe.execute(raise_on_error=False)
    for reply in replies:
        if isinstance(reply, Exception) and not is_oom(reply):
            raise reply
    states = [RateState(limit, limit - _counted(replies[2 * i + 1]), reset)
              for i, ((_, (limit, _)), reset) in enumerate(zip(budgets, resets))]
    return states, replies[-1] if read is not None else None


def _counted(reply: Any) -> int:
    """The window's count after this request; 0 when a full Redis refused
    to count it."""
    return 0 if isinstance(reply, Exception) else int(reply)


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
