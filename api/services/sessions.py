"""Agent sessions: POST /api/auth/login gives an agent a token that acts as
that agent in one project, until it expires or is logged out.

A session is a Redis hash under the sha256 of its token, with a TTL equal to
its remaining life (taskq.keys.TaskDriverKeys.session); a zset of expiries
counts the active ones. Tokens start with ``tds_`` and hold no dots, so
api.auth tells them from JWTs (three dot-separated parts) without trying to
decode them. The token itself is never stored nor logged.

This module imports nothing from the rest of api/, so api.auth can use it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from taskq.keys import TaskDriverKeys

TOKEN_PREFIX = "tds_"
DEFAULT_TTL = 3600
"""Seconds a new session lives (TASKQ_TASKDRIVER_SESSION_TTL)."""
MAX_LIFETIME = 7 * 24 * 3600
"""No session is extended past this many seconds from now."""
ACTIVITY_EVERY_MS = 1000
"""lastActivity is written at most this often per session."""


@dataclass(frozen=True)
class Session:
    id: str
    agent: str
    project_id: str
    created_ms: int
    expires_ms: int
    last_activity_ms: int

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> "Session":
        return cls(raw["id"], raw["agent"], raw["project"], int(raw["created"]),
                   int(raw["expires"]), int(raw.get("activity") or raw["created"]))


def is_session_token(credential: str) -> bool:
    return credential.startswith(TOKEN_PREFIX)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)


class SessionStore:
    def __init__(self, redis, prefix: str):
        self.redis = redis
        self.tk = TaskDriverKeys(prefix)

    def create(self, agent: str, project_id: str, ttl: float = DEFAULT_TTL) -> tuple[str, Session]:
        """A new session and its token (returned once)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = _now_ms()
        s = Session(str(uuid.uuid4()), agent, project_id, now, now + int(ttl * 1000), now)
        key = self.tk.session(_hash(token))
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping={"id": s.id, "agent": agent, "project": project_id,
                                "created": now, "expires": s.expires_ms, "activity": now})
        pipe.pexpireat(key, s.expires_ms)
        pipe.zadd(self.tk.sessions, {_hash(token): s.expires_ms})
        pipe.execute()
        return token, s

    def resolve(self, token: str) -> Session | None:
        """The live session of a token (and note its activity), or None."""
        key = self.tk.session(_hash(token))
        raw = self.redis.hgetall(key)
        if not raw or "agent" not in raw:
            return None
        s = Session.from_hash(raw)
        now = _now_ms()
        if s.expires_ms <= now:
            return None
        if now - s.last_activity_ms >= ACTIVITY_EVERY_MS:
            # if the key expired meanwhile, PEXPIREAT (now past) deletes what HSET recreated
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(key, "activity", now)
            pipe.pexpireat(key, s.expires_ms)
            pipe.execute()
            s = Session(s.id, s.agent, s.project_id, s.created_ms, s.expires_ms, now)
        return s

    def extend(self, token: str, seconds: float) -> Session | None:
        """Push the expiry ``seconds`` later (never past MAX_LIFETIME from now)."""
        s = self.resolve(token)
        if s is None:
            return None
        now = _now_ms()
        expires = min(s.expires_ms + int(seconds * 1000), now + MAX_LIFETIME * 1000)
        key = self.tk.session(_hash(token))
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping={"expires": expires, "activity": now})
        pipe.pexpireat(key, expires)
        pipe.zadd(self.tk.sessions, {_hash(token): expires})
        pipe.execute()
        return Session(s.id, s.agent, s.project_id, s.created_ms, expires, now)

    def revoke(self, token: str) -> bool:
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.tk.session(_hash(token)))
        pipe.zrem(self.tk.sessions, _hash(token))
        return bool(pipe.execute()[0])

    def active(self) -> int:
        """Sessions not yet expired (expired entries are dropped on the way)."""
        now = _now_ms()
        pipe = self.redis.pipeline(transaction=True)
        pipe.zremrangebyscore(self.tk.sessions, "-inf", now)
        pipe.zcard(self.tk.sessions)
        return int(pipe.execute()[1])
