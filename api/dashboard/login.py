"""GET/POST /dashboard/login and POST /dashboard/logout.

The form takes an API key (``tq_...``) or a JWT, checked exactly as the
API checks an Authorization header (api.auth.authenticate). It must carry
scope ``dashboard``, ``dashboard:read`` or ``admin``. The login form has
its own CSRF token (a cookie and a hidden field that must match), so no
other site can log a browser in under someone else's credential.
"""

from __future__ import annotations

import time

from flask import Blueprint, redirect, render_template, request, url_for

from ..auth import KEY_PREFIX, _key_hash
from ..errors import ApiError
from ..app_state import state
from . import access
from .render import html_response

CREDENTIAL_MAX = 8192


def _page(status: int = 200, error: str | None = None, next_url: str | None = None):
    from .pages import CSP

    token = access.login_token()
    body = render_template("dashboard/login.html", title="Log in", error=error, csrf_token=token,
                           next=access.safe_next(next_url), session=None, may_act=False)
    resp = html_response(body, CSP, status)
    access.set_login_cookie(resp, token)
    return resp


def _header(credential: str) -> tuple[str, str | None]:
    """The Authorization header a credential stands for, and its key hash (API keys)."""
    scheme, _, rest = credential.partition(" ")
    if scheme.lower() in ("apikey", "bearer") and rest.strip():
        credential = rest.strip()
    if credential.startswith(KEY_PREFIX):
        return f"ApiKey {credential}", _key_hash(credential)
    return f"Bearer {credential}", None


def login():
    if request.method == "GET":
        return _page(next_url=request.args.get("next"))
    next_url = request.form.get("next")
    if not access.login_csrf_ok():
        return _page(403, "The form expired: log in again.", next_url)
    credential = (request.form.get("credential") or "").strip()
    if not credential or len(credential) > CREDENTIAL_MAX or not credential.isascii():
        return _page(401, "Paste an API key or a token.", next_url)
    header, key_hash = _header(credential)
    if header.startswith("Bearer tds_"):
        return _page(401, "A TaskDriver agent session cannot open the dashboard.", next_url)
    st = state()
    try:
        principal = st.authenticate(header)
    except ApiError as exc:
        return _page(401, f"Not accepted: {exc.message}.", next_url)
    if principal is None or not access.can_view(principal):
        return _page(403, "This credential lacks scope dashboard (or dashboard:read, or admin).", next_url)
    ttl = float(st.dashboard_ttl)
    if principal.kind == "jwt":
        import jwt

        exp = jwt.decode(header.split(" ", 1)[1], options={"verify_signature": False}).get("exp")
        ttl = min(ttl, float(exp) - time.time())
        if ttl < 1:
            return _page(401, "Not accepted: the token has expired.", next_url)
    token, _ = access.store().create(principal, ttl, key_hash)
    resp = redirect(access.safe_next(next_url), code=303)
    access.set_session_cookie(resp, token, ttl)
    resp.delete_cookie(access.LOGIN_COOKIE, path=access.PATH + "/login")
    return resp


def logout():
    session = access.current()
    if session is not None:
        access.store().delete(session)
    resp = redirect(url_for("dashboard.login"), code=303)
    access.clear_session_cookie(resp)
    return resp


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    bp.add_url_rule("/logout", "logout", logout, methods=["POST"])
