"""What happens around every request: correlation ids, API version
negotiation, CORS, authentication and rate limiting before the view;
security, CORS and rate-limit headers and one JSON access-log line after.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import time

from flask import Flask, current_app, g, request

from . import ratelimit
from .auth import confirm_key, identify
from .envelope import correlation_id
from .errors import ApiError

access_log = logging.getLogger("taskq.api.access")

SUPPORTED_VERSIONS = ("1.0",)
"""API versions this server speaks (``Accept: application/json; version=1.0``)."""
OPEN_PATHS = ("/health", "/api/health", "/metrics", "/api/docs")
"""Paths served without credentials and outside rate limits (/metrics* may
ask for TASKQ_METRICS_TOKEN itself, api.metrics), with those a dialect
declares (its descriptor's ``open_paths``: the Tasker health probes, and
the assets of its task diagram page); a credential sent there is not even
read, so a bad one cannot turn a probe into a 401."""
CORS_HEADERS = "Authorization, Content-Type, Accept, X-Request-ID, X-Correlation-ID, X-Lease-Token"
EXPOSED_HEADERS = ("X-Request-ID, X-Correlation-ID, X-RateLimit-Limit, X-RateLimit-Remaining, "
                   "X-RateLimit-Reset, Retry-After, X-API-Version")
INSTANCE_BEAT_SECONDS = 10.0
"""How often an API process records that it is alive (system status)."""
OWN_AUTH_PATHS = ("/dashboard",)
"""Paths that authenticate and rate-limit their callers themselves (the
dashboard: a session cookie, not an Authorization header; api.dashboard.access)."""


def _state():
    return current_app.extensions["taskq"]


def _prefixes(paths, ends: str = "/") -> re.Pattern:
    """One pattern for ``path`` being one of ``paths`` or under one (a
    following character in ``ends``): a match per request, not a loop."""
    paths = tuple(dict.fromkeys(paths))
    if not paths:
        return re.compile("(?!)")  # none: matches nothing
    return re.compile("(?:%s)(?:$|[%s])" % ("|".join(map(re.escape, paths)), re.escape(ends)))


_OWN_AUTH = _prefixes(OWN_AUTH_PATHS)


class DialectPaths:
    """What the registered dialects declare that this module acts on, made
    once per app (on its first request) from their descriptors
    (api.dialects.base.Dialect): open paths (with OPEN_PATHS), paths that
    negotiate the API version (``versioned_paths``: they answer
    ``X-API-Version`` and ``Cache-Control: no-store``) and login paths (a
    POST there also counts against TASKQ_LOGIN_RATE_LIMIT per client IP)."""

    def __init__(self, app: Flask):
        registry = app.extensions.get("taskq.dialects")
        paths = registry.paths if registry is not None else (lambda attribute: ())
        self.open = _prefixes(OPEN_PATHS + paths("open_paths"), "/.")
        self.versioned = _prefixes(paths("versioned_paths"))
        self.login = frozenset(paths("login_paths"))

    @staticmethod
    def of(app) -> "DialectPaths":
        found = app.extensions.get("taskq.dialect_paths")
        if found is None:
            found = app.extensions["taskq.dialect_paths"] = DialectPaths(app)
        return found


def _is_open(path: str) -> bool:
    return DialectPaths.of(current_app).open.match(path) is not None


def _has_own_auth(path: str) -> bool:
    return _OWN_AUTH.match(path) is not None


def _versioned(path: str) -> bool:
    paths = DialectPaths.of(current_app)
    return paths.versioned.match(path) is not None and paths.open.match(path) is None


def requested_versions(accept: str) -> list[str]:
    """Version parameters of the JSON media ranges in an Accept header."""
    out = []
    for part in accept.split(","):
        media, *params = [x.strip() for x in part.split(";")]
        if media.lower() not in ("application/json", "application/*", "*/*"):
            continue
        for p in params:
            name, _, value = p.partition("=")
            if name.strip().lower() == "version":
                out.append(value.strip().strip('"'))
    return out


def _supported(version: str) -> bool:
    return version in SUPPORTED_VERSIONS or f"{version}.0" in SUPPORTED_VERSIONS


def _origin_allowed(origin: str) -> bool:
    allowed = _state().cors_origins
    return bool(origin) and ("*" in allowed or origin in allowed)


def _preflight():
    resp = current_app.make_response(("", 204))
    origin = request.headers.get("Origin", "")
    if _origin_allowed(origin):
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        resp.headers["Access-Control-Allow-Headers"] = (
            request.headers.get("Access-Control-Request-Headers") or CORS_HEADERS)
        resp.headers["Access-Control-Max-Age"] = "600"
    return resp


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def _beat() -> None:
    """Record this process as a live API instance, at most every few seconds."""
    st = _state()
    now = time.time()
    if now - st.last_beat < INSTANCE_BEAT_SECONDS:
        return
    st.last_beat = now
    st.redis.zadd(st.api_keys.instances, {st.instance_id: int(now * 1000)})


def before() -> object | None:
    req = request._get_current_object()  # one proxy lookup, not one per use
    gl = g._get_current_object()
    gl.started = time.monotonic()
    correlation_id()
    method, path, headers = req.method, req.path, req.headers
    if method == "OPTIONS" and headers.get("Access-Control-Request-Method"):
        return _preflight()
    if _versioned(path):
        versions = requested_versions(headers.get("Accept", ""))
        if versions and not any(_supported(v) for v in versions):
            raise ApiError(406, "unsupported_version",
                           f"API version {versions[0]!r} is not supported",
                           {"requested": versions, "supported": list(SUPPORTED_VERSIONS)})
    if _is_open(path) or _has_own_auth(path):
        return None
    st = _state()
    try:
        _beat()
    except Exception:  # bookkeeping only: never fail a request for it
        pass
    try:
        gl.principal, unconfirmed = identify(headers.get("Authorization"), st.jwt_secret,
                                             st.redis, st.api_keys, st.sessions, st.credentials)
    except ApiError as exc:
        gl.principal, gl.auth_error, unconfirmed = None, exc, None
    principal = gl.principal
    if principal is not None:
        rate = ratelimit.own_rate(principal.id, principal.rate_limit, st.rate)
        identity = principal.id
    else:
        rate, identity = st.rate_ip, f"ip:{_client_ip()}"
    budgets = [(identity, rate, "rate limit of {limit} requests exceeded")]
    if method == "POST" and path in DialectPaths.of(current_app).login:
        budgets.append((f"login-ip:{_client_ip()}", st.rate_login,
                        "too many login attempts from this address (at most {limit})"))
    budgets += _dialect_ip_budgets(path)
    budgets = [b for b in budgets if b[1] is not None]
    # an API key known from an earlier request: its record is read again in
    # the round trip that counts the budgets (a revoked key is refused now)
    read = (st.api_keys.api_keys, unconfirmed) if unconfirmed else None
    if budgets:
        states, record = ratelimit.hit_many(st.redis, st.api_keys, [(who, rate) for who, rate, _ in budgets],
                                            read=read)
    else:
        states, record = [], st.redis.hget(*read) if read else None
    if unconfirmed:
        try:
            gl.principal = confirm_key(unconfirmed, record, st.credentials)
        except ApiError as exc:
            gl.principal, gl.auth_error = None, exc
    if states:
        gl.rate_state = min(states, key=lambda s: s.remaining)  # the headers show the tightest
    for spent, (_, _, message) in zip(states, budgets):
        if spent.exceeded:
            raise ratelimit.too_many(spent, message)
    return None


def _dialect_ip_budgets(path: str) -> list:
    """The per-IP budget of the dialect serving ``path`` (the Tasker one's
    TASKQ_TASKER_RATE_LIMIT), counted whoever the caller is."""
    registry = current_app.extensions.get("taskq.dialects")
    out = []
    for d in registry or ():
        if d.ip_rate is None or not d.serves(path):
            continue
        rate = d.ip_rate(registry[d.name])
        if rate is not None:
            out.append((f"{d.name}-ip:{_client_ip()}", rate,
                        f"rate limit of {{limit}} requests from this address on {d.url_prefix} exceeded"))
    return out


SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                    ("X-XSS-Protection", "1; mode=block"), ("Referrer-Policy", "no-referrer"))
"""Sent on every response (HSTS too, on HTTPS)."""


_VERSIONED_ADD = (("X-API-Version", SUPPORTED_VERSIONS[-1]),)
_NO_STORE = (("Cache-Control", "no-store"),)
_HSTS = (("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)
_ADDED = frozenset(n.lower() for n, _ in SECURITY_HEADERS + _VERSIONED_ADD + _NO_STORE + _HSTS) | {
    "x-request-id", "x-correlation-id", "access-control-allow-origin", "access-control-expose-headers",
    "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"}
"""Every header after() may set: a response already holding one has it replaced."""


def after(resp):
    req = request._get_current_object()
    cid = correlation_id()
    h = resp.headers
    present = {k.lower() for k in h.keys()}  # set() rescans the list per header: only where needed
    add = [("X-Request-ID", cid), ("X-Correlation-ID", cid), *SECURITY_HEADERS]
    if req.is_secure:
        add += _HSTS
    if _versioned(req.path):
        add += _VERSIONED_ADD
        if "cache-control" not in present:
            add += _NO_STORE
    origin = req.headers.get("Origin", "")
    cors = _origin_allowed(origin)
    if cors:
        add.append(("Access-Control-Allow-Origin", "*" if "*" in _state().cors_origins else origin))
        add.append(("Access-Control-Expose-Headers", EXPOSED_HEADERS))
    rate = g.get("rate_state")
    if rate is not None:
        add.extend(rate.headers().items())
    if present.isdisjoint(_ADDED):
        h.extend(add)  # the common case: none of them is set yet
    else:
        for name, value in add:
            if name.lower() in present:
                h[name] = value
            else:
                h.add(name, value)
    if cors:
        h.add("Vary", "Origin")
    _log(resp, cid, req)
    return resp


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _fingerprint(m: re.Match) -> str:
    return "id~" + hashlib.sha256(m.group(0).lower().encode()).hexdigest()[:8]


def loggable_path(path: str) -> str:
    """The path with every UUID (project ids, and so TaskDriver task ids,
    td-<project id>:...) replaced by ``id~`` and the first 8 hex digits of
    its sha256: in open login mode a project id lets anyone act as its
    agents, and request logs travel further than Redis credentials do.
    An operator holding an id finds its requests by computing the same."""
    return _UUID.sub(_fingerprint, path)


def _log(resp, cid: str, req) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    gl = g._get_current_object()
    principal = getattr(gl, "principal", None)
    started = getattr(gl, "started", None)
    record = {
        "ts": round(time.time(), 3), "level": "info", "msg": "request",
        "method": req.method, "path": loggable_path(req.path), "status": resp.status_code,
        "duration_ms": round((time.monotonic() - started) * 1000, 2) if started is not None else 0.0,
        "correlation_id": cid, "ip": req.remote_addr or "unknown",
        "principal": principal.id if principal else None,
        "user_agent": req.headers.get("User-Agent", "")[:200],
    }
    _write_log(json.dumps(record))


_OWN: list = []
"""The (handler, formatter) setup_logging installed, if it did."""


def _write_log(line: str) -> None:
    """One access-log line. While the logger is as setup_logging left it
    (its one handler writing the bare message, nothing else attached), the
    line goes straight to that handler's stream, under its lock: the same
    bytes without a LogRecord, the caller's frame lookup and the filter
    chain. Any other set-up (a host's handlers, a test's capture) gets
    the line through logging as before."""
    if _OWN:
        handler, formatter = _OWN[0]
        if (access_log.handlers == [handler] and not access_log.propagate and not access_log.filters
                and not handler.filters and handler.formatter is formatter and handler.level <= logging.INFO):
            try:
                with handler.lock:
                    handler.stream.write(line + handler.terminator)
                    handler.stream.flush()
                return
            except Exception:  # let logging report it, as it would have
                pass
    access_log.info(line)


def setup_logging() -> None:
    """One JSON object per line on stderr, unless the host configured logging."""
    if access_log.handlers:
        return
    handler = logging.StreamHandler()
    formatter = logging.Formatter("%(message)s")
    handler.setFormatter(formatter)
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    access_log.propagate = False
    _OWN[:] = [(handler, formatter)]


def instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def register(app: Flask) -> None:
    app.before_request(before)
    app.after_request(after)
