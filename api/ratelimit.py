"""Sliding-window rate limits counted in Redis, so every gunicorn worker (and
every dyno) shares one count per caller.

A caller is its token subject or API key when authenticated, else its IP.
Each fixed window is one key (``ApiKeys.rate``), incremented and read with
the window before it in one round trip. The count a request is judged by
is this window's plus the share of the previous one still inside the
sliding window (the estimate Cloudflare and nginx-style limiters use), so
a caller cannot spend two budgets back to back across a window boundary,
and a limit never depends on where in a window a burst happens to fall.
POST /api/auth/login also counts against a stricter budget per client IP
(TASKQ_LOGIN_RATE_LIMIT), so a project id cannot be guessed at speed.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from taskq.keys import ApiKeys

from .config import ConfigError, parse_rate
from .errors import ApiError

log = logging.getLogger("taskq.api")

_WARNED: set[str] = set()
_WARN_AT_MOST = 1000
"""Credentials whose bad own limit this process has already logged."""


@dataclass(frozen=True)
class RateState:
    limit: int
    remaining: int
    reset: int          # epoch seconds when every request counted so far has aged out
    retry_after: int = 0  # seconds until one more request would be let through

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(max(0, self.remaining)),
                "X-RateLimit-Reset": str(self.reset)}


def hit(redis, keys: ApiKeys, identity: str, limit: int, window: int,
        now: float | None = None) -> RateState:
    """Count one request of ``identity``; ``exceeded`` once past ``limit``
    requests in the sliding ``window`` seconds before it."""
    now = time.time() if now is None else now
    n = int(now // window)
    pipe = redis.pipeline(transaction=True)
    pipe.incr(keys.rate(identity, n))
    pipe.expire(keys.rate(identity, n), 2 * window + 1)   # it is the previous window next
    pipe.get(keys.rate(identity, n - 1))
    current, _, previous = pipe.execute()
    previous = int(previous or 0)
    elapsed = (now - n * window) / window                  # share of this window gone, [0, 1)
    estimate = previous * (1 - elapsed) + current
    remaining = limit - math.ceil(estimate - 1e-6)   # float dust is not a request
    if remaining < 0:          # a refused request is not counted, so a client
        redis.decr(keys.rate(identity, n))   # that waits Retry-After gets in
        current -= 1
    reset = (n + 2 if current else n + 1) * window
    return RateState(limit, remaining, reset,
                     _retry_after(previous, current, limit, window, elapsed))


def _retry_after(previous: int, current: int, limit: int, window: int, elapsed: float) -> int:
    """Whole seconds until the estimate (``previous`` and ``current`` as
    stored) leaves room for one more request, if no other request comes:
    the previous window's share drains first, then, past this window's
    end, this window's count does."""
    room = limit - 1                          # what the estimate must fall to
    if current <= room and previous:
        share = 1 - (room - current) / previous   # the elapsed share at which it fits
        if share <= elapsed:
            return 0
        return max(1, math.ceil((share - elapsed) * window))
    if current <= room:
        return 0
    share = 1 - room / current if current else 0  # in the next window, this one drains
    return max(1, math.ceil((1 - elapsed + share) * window))


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
    retry = max(1, state.retry_after)
    return ApiError(429, "rate_limited", message.format(limit=state.limit),
                    {"limit": state.limit, "reset": state.reset}, {"Retry-After": str(retry)})
