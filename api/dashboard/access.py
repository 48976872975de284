"""Who may see the dashboard, and act from it.

The API's middleware leaves /dashboard to this module
(api.middleware.OWN_AUTH_PATHS): a browser sends a session cookie, not an
Authorization header. Before every dashboard request :func:`before`:

- serves the static files (a stylesheet, a script, an icon) to anyone,
  uncounted like the API's docs assets, and the login page to anyone,
  counted per client IP (TASKQ_RATE_LIMIT_IP; a login POST also counts
  against TASKQ_LOGIN_RATE_LIMIT);
- else resolves the cookie's session (api.services.dashboard_sessions): none sends
  a page to the login form and answers a data endpoint or an action 401;
  a session is counted against TASKQ_DASHBOARD_RATE_LIMIT;
- checks every POST's CSRF token (form field ``csrf_token`` or header
  ``X-CSRF-Token``) against the session's: missing or wrong is 403.

Scopes: ``dashboard`` (or ``admin``) looks and acts; ``dashboard:read``
only looks (actions answer 403, and pages show no buttons).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import g, redirect, request, url_for

from .. import ratelimit
from ..auth import Principal
from ..errors import ApiError
from ..services.dashboard_sessions import DashboardSessionStore, Session
from ..app_state import state

COOKIE = "taskq_dashboard"
LOGIN_COOKIE = "taskq_dashboard_login"
"""Holds the login form's CSRF token until the login succeeds (double submit)."""
PATH = "/dashboard"
STATIC_ENDPOINT = "dashboard.static"
LOGIN_ENDPOINT = "dashboard.login"
ACT_SCOPE = "dashboard"
READ_SCOPE = "dashboard:read"


def can_view(principal: Principal) -> bool:
    return principal.allows(ACT_SCOPE) or principal.allows(READ_SCOPE)


def can_act(principal: Principal) -> bool:
    return principal.allows(ACT_SCOPE)


def store() -> DashboardSessionStore:
    return state().dashboard_sessions


def current() -> Session | None:
    return g.get("dashboard_session")


def wants_json() -> bool:
    """Data endpoints, script-sent actions and JSON bodies answer JSON;
    pages and plain form posts HTML."""
    return (request.path.startswith(PATH + "/data/") or request.is_json
            or "application/json" in request.headers.get("Accept", ""))


def safe_next(target: str | None, default: str | None = None) -> str:
    """A place inside the dashboard to go back to, never another site."""
    fallback = default or url_for("dashboard.overview")
    if not target or not isinstance(target, str) or len(target) > 2000:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or not target.startswith(PATH + "/") \
            or target.startswith("//"):
        return fallback
    return target


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def _count(identity: str, rate, message: str) -> None:
    spent = state().count_rate(identity, rate)
    if spent is None:
        return
    g.rate_state = spent
    if spent.exceeded:
        raise ratelimit.too_many(spent, message)


def check_csrf(expected: str) -> None:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    if not expected or not hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode()):
        raise ApiError(403, "csrf_failed", "the form's CSRF token is missing or wrong: reload the page")


def before():
    """The dashboard blueprint's first hook (see the module docstring)."""
    st = state()
    if request.endpoint == STATIC_ENDPOINT:
        return None
    if request.endpoint == LOGIN_ENDPOINT:
        _count(f"ip:{_client_ip()}", st.rate_ip, "rate limit of {limit} requests exceeded")
        if request.method == "POST":
            _count(f"login-ip:{_client_ip()}", st.rate_login,
                   "too many login attempts from this address (at most {limit})")
        return None
    session = store().resolve(request.cookies.get(COOKIE))
    if session is None:
        _count(f"ip:{_client_ip()}", st.rate_ip, "rate limit of {limit} requests exceeded")
        if request.method == "GET" and not wants_json():
            return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
        raise ApiError(401, "auth_required", "log in to the dashboard first",
                       headers={"X-Login-URL": url_for("dashboard.login")})
    g.dashboard_session = session
    g.principal = session.principal()  # the access log names who it was
    _count(f"dash:{session.id[:32]}", st.rate_dashboard,
           "dashboard rate limit of {limit} requests exceeded")
    if request.method == "POST":
        check_csrf(session.csrf)
    return None


def require_act() -> Session:
    """The session of a caller who may act (403 for a read-only one)."""
    session = current()
    if session is None or not can_act(session.principal()):
        raise ApiError(403, "insufficient_scope", f"acting from the dashboard needs scope {ACT_SCOPE!r}",
                       {"required_scope": ACT_SCOPE})
    return session


def set_session_cookie(resp, token: str, ttl: float) -> None:
    resp.set_cookie(COOKIE, token, max_age=int(ttl), path=PATH, httponly=True, samesite="Strict",
                    secure=request.is_secure)


def clear_session_cookie(resp) -> None:
    resp.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="Strict", secure=request.is_secure)


def login_token() -> str:
    """The login form's CSRF token: the one its cookie holds, or a new one."""
    token = request.cookies.get(LOGIN_COOKIE) or ""
    return token if 20 <= len(token) <= 100 and token.isascii() else secrets.token_urlsafe(32)


def set_login_cookie(resp, token: str) -> None:
    resp.set_cookie(LOGIN_COOKIE, token, max_age=3600, path=PATH + "/login", httponly=True,
                    samesite="Strict", secure=request.is_secure)


def login_csrf_ok() -> bool:
    sent, kept = request.form.get("csrf_token") or "", request.cookies.get(LOGIN_COOKIE) or ""
    return bool(kept) and hmac.compare_digest(sent.encode("utf-8", "replace"), kept.encode("utf-8", "replace"))
