"""Agent sessions: login, logout, read and extend (POST /api/auth/login, ...)."""

from __future__ import annotations

from flask import request

from ..envelope import ok
from ..errors import ApiError
from ..schemas import envelope
from . import state
from .access import DOC_SECURITY, blueprint, need, session_only
from .schemas import LoginResultSchema, LoginSchema, TDMessageSchema, SessionExtendSchema, SessionSchema
from .views import ms_iso, session_view

blp = blueprint("TaskDriver Auth", "Agent sessions: a token that acts as one agent in one project")


def _session_token() -> str:
    """The calling session's token (session_only has checked there is one)."""
    return request.headers["Authorization"].strip().partition(" ")[2].strip()


@blp.route("/auth/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, envelope(LoginResultSchema))
@blp.doc(security=[{}] + DOC_SECURITY, responses={"401": "UNAUTHORIZED", "403": "FORBIDDEN",
                                                  "404": "NOT_FOUND", "409": "CONFLICT"})
def login(body):
    """Log an agent in to a project. Open by default; with
    TASKQ_TASKDRIVER_LOGIN=credential the call needs an API key or JWT with
    scope agents:write."""
    td = state()
    if td.login == "credential":
        need("agents:write")
    project = td.service.projects.get(body["projectId"])
    if project.status != "active":
        raise ApiError(409, "project_closed", f"project {project.id} is closed")
    token, s = td.sessions.create(body["agentName"], project.id, td.session_ttl)
    return ok({"sessionId": s.id, "token": token, "expiresAt": ms_iso(s.expires_ms),
               "agentName": s.agent, "projectId": s.project_id})


@blp.route("/auth/logout", methods=["POST"])
@session_only
@blp.response(200, envelope(TDMessageSchema))
def logout():
    """End the calling session: its token stops working at once."""
    state().sessions.revoke(_session_token())
    return ok({"message": "Logged out successfully"})


@blp.route("/auth/session", methods=["GET"])
@session_only
@blp.response(200, envelope(SessionSchema))
def get_session():
    """The calling session."""
    s = state().sessions.resolve(_session_token())
    if s is None:
        raise ApiError(401, "invalid_session", "Invalid or expired session")
    return ok(session_view(s))


@blp.route("/auth/session", methods=["PUT"])
@session_only
@blp.arguments(SessionExtendSchema)
@blp.response(200, envelope(SessionSchema))
def extend_session(body):
    """Extend the calling session by extendBy seconds (at most a week from now)."""
    s = state().sessions.extend(_session_token(), body["extendBy"])
    if s is None:
        raise ApiError(401, "invalid_session", "Invalid or expired session")
    return ok(session_view(s))
