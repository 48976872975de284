"""Logging a Flask test client into the dashboard, and reading its forms."""

from __future__ import annotations

import re

from apihelpers import SECRET

from api.auth import mint_token

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


def form_token(html: str) -> str:
    """The first CSRF token of a page's forms."""
    m = _CSRF.search(html)
    assert m, "no form with a csrf_token on the page"
    return m.group(1)


def login(client, *scopes: str, credential: str | None = None, next_url: str = "/dashboard/"):
    """Log ``client`` in with a JWT carrying ``scopes`` (or ``credential``);
    returns the session's CSRF token (from the page it lands on)."""
    page = client.get("/dashboard/login")
    resp = client.post("/dashboard/login", data={
        "csrf_token": form_token(page.get_data(as_text=True)), "next": next_url,
        "credential": credential or mint_token(SECRET, "operator", scopes, 600)})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    landed = client.get(resp.headers["Location"])
    assert landed.status_code == 200
    return _META.search(landed.get_data(as_text=True)).group(1)


def act(client, path: str, csrf: str, json: bool = True, **fields):
    """POST an action as dashboard.js does (JSON answer), or as a plain form."""
    headers = {"Accept": "application/json"} if json else {}
    return client.post(path, data={"csrf_token": csrf, **fields}, headers=headers)
