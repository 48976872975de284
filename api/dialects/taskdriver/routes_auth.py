"""Agent sessions: login, logout, read and extend (POST /api/auth/login, ...).

Login's errors name no project id but the one the caller sent; a credential
limited to named agents or projects is checked before the project is looked
up (403 whether it exists or not), so it cannot probe for ids. Every login also counts against a budget
per client IP (TASKQ_LOGIN_RATE_LIMIT, api.middleware).
"""

from __future__ import annotations

from flask import request

from ...envelope import ok
from ...errors import ApiError
from ...schemas import envelope
from .runtime import state
from ...auth import current_principal
from .access import DOC_SECURITY, blueprint, check_limits, need, session_only
from .schemas_auth import LoginResultSchema, LoginSchema, SessionExtendSchema, SessionSchema
from .schemas_common import TDMessageSchema
from .serializers import ms_iso, session_view

blp = blueprint("TaskDriver Auth", "Agent sessions: a token that acts as one agent in one project")

def _session_token() -> str:
    """The calling session's token (session_only has checked there is one)."""
    return request.headers["Authorization"].strip().partition(" ")[2].strip()


@blp.route("/auth/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, envelope(LoginResultSchema))
@blp.doc(security=[{}] + DOC_SECURITY, responses={"401": "UNAUTHORIZED", "403": "FORBIDDEN",
                                                  "404": "NOT_FOUND", "409": "CONFLICT",
                                                  "429": "TOO_MANY_REQUESTS"})
def login(body):
    """Log an agent in to a project. Open by default; with
    TASKQ_TASKDRIVER_LOGIN=credential (the production setting) the call
    needs an API key or JWT with scope agents:write, and a credential limited
    to named agents or projects may log in only as those (403). Attempts
    per client IP are limited (TASKQ_LOGIN_RATE_LIMIT; 429 past it)."""
    td = state()
    if td.login == "credential":
        check_limits(need("agents:write"), body["agentName"], body["projectId"])
    else:
        p = current_principal()  # open mode: a valid key or token sent anyway keeps its limits
        if p is not None and p.kind != "session":
            check_limits(p, body["agentName"], body["projectId"])
    project = td.projects.get(body["projectId"])  # 404 naming only the id sent
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
