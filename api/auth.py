"""Who is calling, and may they? Bearer JWTs and API keys.

- ``Authorization: Bearer <JWT>``: HS256 signed with TASKQ_JWT_SECRET;
  claims ``sub``, ``exp`` (both required) and ``scopes`` (a list or a
  space-separated string); optional ``rate_limit`` (api.config.parse_rate:
  "100/minute", "1000/900") and ``agents`` / ``projects`` (lists).
- ``Authorization: ApiKey <key>``: keys are stored as sha256 hashes in
  Redis (taskq.keys.ApiKeys.api_keys) with their name, scopes and the same
  optional limits; the key itself is shown once, when created.
- ``agents`` / ``projects`` limit whom a credential may act as on the
  TaskDriver routes (login, next-task, complete, fail, extend-lease): only
  the named agents, only in the named projects (api.dialects.taskdriver.access).
  Absent means any; a limit that is present but not a list of names allows
  none (a malformed limit fails closed).
- ``Authorization: Bearer tds_...``: a TaskDriver agent session
  (api.services.sessions), told from a JWT by its prefix. It carries no
  scopes: it acts as one agent in one project, which the TaskDriver views
  check; every scoped route refuses it (403).

Scope ``admin`` allows everything; ``<area>:write`` includes
``<area>:read``; a dialect's own scopes (``<namespace>.<resource>:<action>``,
api.dialects.base.Dialect.scopes) take wildcards. Missing, expired or forged credentials -> 401; valid
credentials without the scope -> 403. Secrets and tokens are never logged.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from functools import wraps
from typing import Any

import jwt
from flask import current_app, g, has_app_context

from .config import parse_rate
from .credential_cache import CredentialCache
from .errors import ApiError
from .services.sessions import SessionStore, is_session_token
from taskq.keys import ApiKeys

DASHBOARD_SCOPES = ("dashboard", "dashboard:read")
"""The operator dashboard (/dashboard): ``dashboard`` looks and acts,
``dashboard:read`` only looks (api.dashboard.access)."""
SHARED_SCOPES = ("admin", "tasks:read", "tasks:write", "workers:read", "system:read", "schedules:read",
                 "schedules:write", "events:write", "webhooks:read", "webhooks:write", "projects:read",
                 "projects:write", "agents:write") + DASHBOARD_SCOPES
"""The scopes every app knows; a dialect adds its own (its descriptor's
``scopes``, api.dialects.base.Dialect), which take wildcards."""
START_WORKFLOW = "start_workflow"
"""The engine action of starting a workflow. The scope it needs is named
by the dialect whose route starts one (its ``action_scopes``) and read from
the app's registry (:func:`action_scope`): creating, changing or running
now a schedule whose runs start one needs it too, so ``schedules:write``
alone is not leave to start workflows. An action, not a scope, lives here:
a shared module names no dialect's scope, and dialects import no other."""
KEY_PREFIX = "tq_"
"""API keys start with this, so a leaked one is recognisable in a scan."""

SECURITY = [{"bearerAuth": []}, {"apiKeyAuth": []}]
"""OpenAPI security requirement of every protected operation."""


@dataclass(frozen=True)
class Principal:
    id: str                 # "jwt:<sub>", "key:<key id>", "session:<id>": the rate-limit identity
    subject: str
    scopes: frozenset[str]
    kind: str               # "jwt" | "apikey" | "session"
    rate_limit: str | None = None
    project_id: str | None = None   # sessions: the one project they act in
    session_id: str | None = None
    agents: frozenset[str] | None = None     # keys and tokens: the only agents it may act as
    projects: frozenset[str] | None = None   # keys and tokens: the only projects it may act in

    def allows(self, scope: str) -> bool:
        s = self.scopes
        if "admin" in s or scope in s:
            return True
        namespace, dot, rest = scope.partition(".")
        if dot and ":" in rest and ":" not in namespace:  # a dialect's <namespace>.<resource>:<action>
            return namespace + ".*" in s or scope.split(":")[0] + ":*" in s
        return scope.endswith(":read") and scope[: -len("read")] + "write" in s

    def may_act_as(self, agent: str | None) -> bool:
        return self.agents is None or agent in self.agents

    def may_act_in(self, project_id: str | None) -> bool:
        return self.projects is None or (project_id is not None and project_id.lower() in self.projects)


def _scopes(value) -> frozenset[str]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, (list, tuple)):
        return frozenset()
    return frozenset(str(x) for x in value)


def _limit(value, lower: bool = False) -> frozenset[str] | None:
    """A stored ``agents`` / ``projects`` limit: None when absent, else the
    names it allows (none when it is malformed: fail closed)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        return frozenset()
    return frozenset(x.lower() if lower else x for x in value)


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def authenticate(header: str | None, secret: str | None, redis, keys: ApiKeys,
                 sessions: SessionStore,
                 cache: CredentialCache | None = None) -> Principal | None:
    """The caller named by an Authorization header; None without one.
    Raises ApiError(401) for anything present but not valid. ``sessions``:
    the app's session store (api.app_state.AppState builds it);
    ``cache``: the app's checked credentials (api.credential_cache)."""
    principal, key_hash = identify(header, secret, redis, keys, sessions, cache)
    if key_hash is not None:
        principal = confirm_key(key_hash, redis.hget(keys.api_keys, key_hash), cache)
    return principal


def identify(header: str | None, secret: str | None, redis, keys: ApiKeys,
             sessions: SessionStore,
             cache: CredentialCache | None = None) -> tuple[Principal | None, str | None]:
    """As :func:`authenticate`, except for an API key whose principal the
    cache knows: that comes back with the key's hash, unconfirmed, and the
    caller must read the key's record (``keys.api_keys``, field: the hash)
    and pass it to :func:`confirm_key` before trusting it. So the read can
    ride in a round trip the request makes anyway (the rate limits')."""
    if not header:
        return None, None
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    scheme = scheme.lower()
    if scheme == "bearer" and is_session_token(credential):
        session = sessions.resolve(credential)
        if session is None:
            raise ApiError(401, "invalid_session", "Invalid or expired session")
        return Principal(f"session:{session.id}", session.agent, frozenset(), "session",
                         project_id=session.project_id, session_id=session.id), None
    if scheme == "bearer" and credential:
        if not secret:
            raise ApiError(401, "invalid_token", "bearer tokens are not accepted: no signing secret is set")
        if cache is None:
            return _verify_token(credential, secret)[0], None
        token_hash = _key_hash(credential)
        principal = cache.token(token_hash)
        if principal is None:
            principal, exp = _verify_token(credential, secret)
            cache.keep_token(token_hash, exp, principal)
        return principal, None
    if scheme == "apikey" and credential:
        key_hash = _key_hash(credential)
        principal = cache.key(key_hash) if cache is not None else None
        if principal is not None:
            return principal, key_hash
        return confirm_key(key_hash, redis.hget(keys.api_keys, key_hash), cache), None
    raise ApiError(401, "unauthorized", "use 'Authorization: Bearer <token>' or 'ApiKey <key>'")


def check_scope(scope: str, why: str | None = None) -> Principal:
    """The request's principal when it holds ``scope``: 401 without valid
    credentials, 403 ``insufficient_scope`` (``why`` says what needs it) without the scope."""
    principal = authenticated()
    if not principal.allows(scope):
        raise ApiError(403, "insufficient_scope", f"{why or 'this call'} needs scope {scope!r}",
                       {"required_scope": scope})
    return principal


def confirm_key(key_hash: str, record: str | None, cache: CredentialCache | None = None) -> Principal:
    """The principal of an API key whose stored record was just read;
    ApiError(401) when there is none (never created, or revoked)."""
    if not record:
        if cache is not None:
            cache.forget_key(key_hash)
        raise ApiError(401, "invalid_api_key", "the API key is not valid")
    principal = cache.key(key_hash, record) if cache is not None else None
    if principal is None:
        rec = json.loads(record)
        rate = rec.get("rate_limit")
        principal = Principal(f"key:{rec['id']}", rec.get("name") or rec["id"], _scopes(rec.get("scopes")),
                              "apikey", str(rate) if rate is not None else None,
                              agents=_limit(rec.get("agents")), projects=_limit(rec.get("projects"), lower=True))
        if cache is not None:
            cache.keep_key(key_hash, record, principal)
    return principal


def _verify_token(credential: str, secret: str) -> tuple[Principal, Any]:
    """The principal of a JWT and its exp; ApiError(401) when not valid."""
    try:
        claims = jwt.decode(credential, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise ApiError(401, "token_expired", "the token has expired") from None
    except jwt.InvalidTokenError:
        raise ApiError(401, "invalid_token", "the token is not valid") from None
    sub = str(claims["sub"])
    rate = claims.get("rate_limit")
    return Principal(f"jwt:{sub}", sub, _scopes(claims.get("scopes")), "jwt",
                     str(rate) if rate is not None else None,
                     agents=_limit(claims.get("agents")),
                     projects=_limit(claims.get("projects"), lower=True)), claims["exp"]


def require(scope: str):
    """View decorator: the caller must be authenticated and hold ``scope``."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            check_scope(scope)
            return view(*args, **kwargs)
        wrapper.required_scope = scope
        return wrapper
    return decorator


def current_principal() -> Principal | None:
    return g.get("principal")


def authenticated() -> Principal:
    """The request's principal; 401 when its credentials were missing or bad."""
    error = g.get("auth_error")
    if error is not None:
        raise error
    principal = g.get("principal")
    if principal is None:
        raise ApiError(401, "auth_required", "Authentication required",
                       headers={"WWW-Authenticate": 'Bearer realm="taskq"'})
    return principal


def action_scope(action: str) -> str:
    """The scope ``action`` (e.g. START_WORKFLOW) needs in this app: the one
    a registered dialect names for it (api.dialects.base.Dialects.scope_for)."""
    return current_app.extensions["taskq.dialects"].scope_for(action)


# -- tokens and keys (used by the CLI and tests) ------------------------------
def known_scopes(dialect_scopes) -> tuple[str, ...]:
    """Every scope a token or key may carry: the shared ones, the dialects'
    (``dialect_scopes``) and their wildcards (``<namespace>.*``,
    ``<namespace>.<resource>:*``)."""
    declared = tuple(dict.fromkeys(dialect_scopes))
    wildcards = sorted({s.split(".")[0] + ".*" for s in declared}) + sorted(
        {s.split(":")[0] + ":*" for s in declared})
    return SHARED_SCOPES + declared + tuple(wildcards)


_DIALECT_SCOPE = re.compile(r"^[a-z][a-z0-9_]*\.(?:\*|[a-z][a-z0-9_]*:(?:\*|[a-z][a-z0-9_]*))$")
"""The shape of a dialect's scope or wildcard, what :func:`check_scopes`
checks of one when it is not told the dialects' scopes."""


def check_scopes(scopes, known=None) -> list[str]:
    """``scopes`` sorted, without repeats; ValueError naming those unknown.
    ``known``: every scope allowed (:func:`known_scopes`), as the CLI passes
    it; else, in an app, the scopes of its registered dialects; else (tests,
    scripts) a dialect's scope is checked by its shape alone."""
    if known is None and has_app_context() and "taskq.dialects" in current_app.extensions:
        known = known_scopes(current_app.extensions["taskq.dialects"].scopes())
    if known is None:
        unknown = sorted(s for s in set(scopes) if s not in SHARED_SCOPES and not _DIALECT_SCOPE.match(s))
        listed = SHARED_SCOPES + ("<dialect>.<resource>:<action>",)
    else:
        unknown, listed = sorted(set(scopes) - set(known)), tuple(known)
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(listed)}")
    return sorted(set(scopes))


def check_rate_limit(rate_limit: str | None) -> str | None:
    """A credential's own rate limit, checked like TASKQ_RATE_LIMIT (ValueError)."""
    if rate_limit is None:
        return None
    parse_rate(rate_limit, "rate_limit")
    return str(rate_limit).strip()


def check_projects(projects) -> list[str]:
    """Project ids of a limit, canonical (ValueError for anything not a UUID)."""
    out = []
    for p in projects or ():
        try:
            out.append(str(uuid.UUID(str(p))))
        except ValueError:
            raise ValueError(f"project {p!r} is not a project id (a UUID)") from None
    return sorted(set(out))


def _limits(agents, projects) -> dict:
    out = {}
    if agents:
        out["agents"] = sorted({str(a) for a in agents})
    if projects:
        out["projects"] = check_projects(projects)
    return out


def mint_token(secret: str, sub: str, scopes, ttl: float = 3600, rate_limit: str | None = None,
               agents=None, projects=None) -> str:
    """A JWT; ``agents`` / ``projects`` limit whom it may act as (None: any);
    its scopes are checked by :func:`check_scopes`."""
    if not secret:
        raise ValueError("TASKQ_JWT_SECRET is not set")
    now = int(time.time())
    claims = {"sub": sub, "scopes": check_scopes(scopes), "iat": now, "exp": now + int(ttl)}
    if rate_limit:
        claims["rate_limit"] = check_rate_limit(rate_limit)
    claims.update(_limits(agents, projects))
    return jwt.encode(claims, secret, algorithm="HS256")


def create_api_key(redis, keys: ApiKeys, name: str, scopes, rate_limit: str | None = None,
                   agents=None, projects=None) -> tuple[str, dict]:
    """A new key (returned once, never stored) and its stored record; its
    scopes are checked by :func:`check_scopes`."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    rec = {"id": secrets.token_hex(6), "name": name, "scopes": check_scopes(scopes),
           "created_at": int(time.time()), "hint": key[:7]}
    if rate_limit:
        rec["rate_limit"] = check_rate_limit(rate_limit)
    rec.update(_limits(agents, projects))
    redis.hset(keys.api_keys, _key_hash(key), json.dumps(rec))
    return key, rec


def list_api_keys(redis, keys: ApiKeys) -> list[dict]:
    recs = [json.loads(v) for v in redis.hvals(keys.api_keys)]
    return sorted(recs, key=lambda r: r.get("created_at", 0))


def revoke_api_key(redis, keys: ApiKeys, key_id: str) -> bool:
    for h, raw in redis.hgetall(keys.api_keys).items():
        if json.loads(raw).get("id") == key_id:
            return bool(redis.hdel(keys.api_keys, h))
    return False


def secured(scope: str):
    """``require(scope)`` plus its OpenAPI security and 401/403/429 answers."""
    from flask_smorest import Blueprint

    def decorator(view):
        return Blueprint.doc(security=SECURITY, responses={
            "401": "UNAUTHORIZED", "403": "FORBIDDEN", "429": "TOO_MANY_REQUESTS",
        })(require(scope)(view))
    return decorator
