"""Dashboard sessions, kept in Redis behind a cookie: the dashboard's login
store, a service like the others (api.app_state.AppState builds the one
DashboardSessionStore; api.dashboard holds no Redis client).

Logging in trades an API key or a JWT for a random session token, sent
back only as an HttpOnly, SameSite=Strict cookie; Redis holds the sha256
of the token (taskq.keys.DashboardKeys), so a read of Redis gives no
usable cookie. A session holds who logged in, their scopes, the CSRF token
every action must echo, and a message for the next page (a flash).

A session never outlives its credential: one made from a JWT expires with
the token's ``exp``; one made from an API key ends when the key is revoked
(each request checks the key is still stored).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass

from taskq.keys import ApiKeys, DashboardKeys

from ..auth import Principal

TOKEN_BYTES = 32


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Session:
    id: str               # sha256 of the cookie's token
    subject: str
    principal_id: str     # the credential's identity (jwt:<sub>, key:<id>)
    scopes: frozenset[str]
    kind: str             # "jwt" | "apikey"
    csrf: str
    expires: float        # epoch seconds

    def principal(self) -> Principal:
        return Principal(self.principal_id, self.subject, self.scopes, self.kind)


class DashboardSessionStore:
    def __init__(self, redis, prefix: str):
        self.redis = redis
        self.keys, self.api_keys = DashboardKeys(prefix), ApiKeys(prefix)

    def create(self, principal: Principal, ttl: float, key_hash: str | None = None) -> tuple[str, Session]:
        """A new session for ``principal`` lasting ``ttl`` seconds; returns
        the cookie's token (never stored) and the session."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        sid = _hash(token)
        expires = time.time() + ttl
        record = {"subject": principal.subject, "principal": principal.id, "kind": principal.kind,
                  "scopes": json.dumps(sorted(principal.scopes)), "csrf": secrets.token_urlsafe(TOKEN_BYTES),
                  "expires": repr(expires), "key_hash": key_hash or ""}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.session(sid), mapping=record)
        pipe.expire(self.keys.session(sid), max(1, int(ttl)))
        pipe.execute()
        return token, self._session(sid, record)

    @staticmethod
    def _session(sid: str, rec: dict) -> Session:
        return Session(sid, rec["subject"], rec["principal"], frozenset(json.loads(rec["scopes"])),
                       rec["kind"], rec["csrf"], float(rec["expires"]))

    def resolve(self, token: str | None) -> Session | None:
        """The live session a cookie names, else None."""
        if not token or len(token) > 200:
            return None
        sid = _hash(token)
        rec = self.redis.hgetall(self.keys.session(sid))
        if not rec or "csrf" not in rec:
            return None
        if rec.get("key_hash") and not self.redis.hexists(self.api_keys.api_keys, rec["key_hash"]):
            self.redis.delete(self.keys.session(sid))  # the key was revoked
            return None
        return self._session(sid, rec)

    def delete(self, session: Session) -> None:
        self.redis.delete(self.keys.session(session.id))

    def flash(self, session: Session, message: str) -> None:
        """A message the next page shows once."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.session(session.id), "flash", message[:500])
        pipe.expireat(self.keys.session(session.id), int(session.expires) + 1)  # never outlive it
        pipe.execute()

    def take_flash(self, session: Session) -> str | None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hget(self.keys.session(session.id), "flash")
        pipe.hdel(self.keys.session(session.id), "flash")
        return pipe.execute()[0]
