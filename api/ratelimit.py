"""Fixed-window rate limits counted in Redis, so every gunicorn worker (and
every dyno) shares one count per caller.

A caller is its token subject or API key when authenticated, else its IP.
Each window is one key (``ApiKeys.rate``) incremented and given a TTL in
one round trip; the key names the window, so a new window starts at zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from taskq.keys import ApiKeys


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
    now = time.time() if now is None else now
    n = int(now // window)
    key = keys.rate(identity, n)
    pipe = redis.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, window + 1)
    count = pipe.execute()[0]
    return RateState(limit, limit - count, (n + 1) * window)
