"""Who may call a /tasker route: Tasker permissions carried as scopes.

Every route names its permission (permissions.PERMISSIONS, e.g.
``tasker.handler:index``). The caller authenticates as on /api (Bearer JWT
or ``ApiKey``); no, bad or expired credentials answer 401
``AUTHENTICATION_FAILED``, a credential without the permission 403
``AUTHORIZATION_FAILED`` naming it, as the Tasker document shows. Agent
sessions carry no scopes, so they are refused here.
"""

from __future__ import annotations

from functools import wraps

from ...auth import SECURITY, Principal, authenticated
from ...blueprint import Blueprint
from ...errors import ApiError
from .permissions import PERMISSIONS

AUTH_MESSAGE = "Invalid or expired authentication token"


def blueprint(name: str, description: str) -> Blueprint:
    return Blueprint(f"Tasker {name}", __name__, description=description)


def caller() -> Principal:
    try:
        return authenticated()
    except ApiError as exc:
        if exc.status != 401:
            raise
        raise ApiError(401, "authentication_failed", AUTH_MESSAGE, headers=exc.headers) from None


def check(permission: str) -> Principal:
    """The caller, if it holds ``permission`` (401 / 403 otherwise)."""
    principal = caller()
    if not principal.allows(permission):
        raise ApiError(403, "authorization_failed", f"Insufficient permissions for {permission}",
                       {"required_permission": permission})
    return principal


def permission(name: str):
    """View decorator: the caller must hold Tasker permission ``name``;
    adds the route's OpenAPI security and 401/403/429 answers."""
    if name not in PERMISSIONS:
        raise ValueError(f"unknown Tasker permission {name!r}")

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            check(name)
            return view(*args, **kwargs)
        wrapper.required_scope = name
        return Blueprint.doc(security=SECURITY, responses={
            "401": "UNAUTHORIZED", "403": "FORBIDDEN", "429": "TOO_MANY_REQUESTS",
        })(wrapper)
    return decorator
