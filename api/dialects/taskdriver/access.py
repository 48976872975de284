"""Who may do what on TaskDriver routes.

- An agent session (Bearer tds_...) acts as its agent in its project: it may
  read that project (the project, its stats, task types, agents, peek), pull
  tasks as its agent, and extend, complete and fail the tasks it holds.
  Anything else answers 403.
- An API key or JWT needs a scope: ``projects:read`` to read, ``projects:write``
  to change projects, task types and tasks, ``agents:write`` to act as any
  agent (naming it in the body); ``admin`` allows everything.
- A key or token limited to named ``agents`` / ``projects`` (api.auth) acts,
  and logs in, only as those agents in those projects; anything else is 403.
  The project of a task comes from its id (``td-<project id>:...``), so the
  check costs nothing and is made before any lookup: a limited caller cannot
  tell an existing project from a missing one.
"""

from __future__ import annotations

from functools import wraps

from flask import g, request

from taskq.keys import queue_of
from taskq.projects.store import QUEUE_PREFIX, project_of_queue

from ...auth import SECURITY, Principal, authenticated
from ...blueprint import Blueprint
from ...errors import ApiError, validation_error
from .serializers import canonical_id
from .runtime import state

PROJECT_TASKS = "/api/tasks/" + QUEUE_PREFIX
"""A project's task on any /api/tasks route (the shared one included)."""
DOC_SECURITY = SECURITY + [{"sessionAuth": []}]


def blueprint(name: str, description: str) -> Blueprint:
    return Blueprint(name, __name__, description=description)


def claims_request() -> bool:
    """Requests that answer errors as TaskDriver does whatever route serves
    them: any call made with an agent session, and any call on a project's
    task (its id names its queue, td-<project id>)."""
    if request.path.startswith(PROJECT_TASKS):
        return True
    principal = g.get("principal")
    return principal is not None and principal.kind == "session"


def gate(scope: str, sessions: bool = False):
    """View decorator, checked before the body is read: an API key or JWT
    with ``scope``, or (when ``sessions``) any agent session, which the view
    then holds to its own project and agent. Adds the route's OpenAPI security."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            p = caller()
            if not (sessions and p.kind == "session"):
                need(scope)
            return view(*args, **kwargs)
        wrapper.required_scope = scope
        return Blueprint.doc(security=DOC_SECURITY, responses={
            "401": "UNAUTHORIZED", "403": "FORBIDDEN", "429": "TOO_MANY_REQUESTS"})(wrapper)
    return decorator


def session_only(view):
    """View decorator: the caller must be an agent session."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if caller().kind != "session":
            raise _forbidden("this call needs an agent session token (POST /api/auth/login)")
        return view(*args, **kwargs)
    return Blueprint.doc(security=[{"sessionAuth": []}], responses={
        "401": "UNAUTHORIZED", "403": "FORBIDDEN", "429": "TOO_MANY_REQUESTS"})(wrapper)


def caller() -> Principal:
    return authenticated()


def _forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def need(scope: str) -> Principal:
    """An API key or JWT holding ``scope``; sessions are refused."""
    p = caller()
    if p.kind == "session":
        raise _forbidden("an agent session may only use its own project and tasks")
    if not p.allows(scope):
        raise ApiError(403, "insufficient_scope", f"this call needs scope {scope!r}",
                       {"required_scope": scope})
    return p


def reader(project_id: str, scope: str = "projects:read") -> Principal:
    """``scope``, or a session of this project."""
    p = caller()
    if p.kind == "session":
        if p.project_id != project_id:
            raise _forbidden("an agent session may only read its own project")
        return p
    return need(scope)


def readable_project(project_id: str):
    """The project a path names (UUID text canonical), once the caller may
    read it (``projects:read`` or a session of it); 404 when there is none."""
    project_id = canonical_id(project_id)
    reader(project_id)
    return state().projects.get(project_id)


def check_limits(p: Principal, agent: str | None, project_id: str | None) -> None:
    """403 unless a key or token limited to named agents / projects may act
    as ``agent`` in ``project_id`` (an unlimited one may act as any)."""
    if not p.may_act_as(agent):
        raise _forbidden(f"this credential may not act as agent {agent!r}")
    _forbidden_project(p, project_id)


def _forbidden_project(p: Principal, project_id: str | None) -> None:
    if not p.may_act_in(project_id):
        raise _forbidden("this credential may not act in this project")


def _project_of_task(task_id: str | None) -> str | None:
    """The project a TaskDriver task id names, None for other ids."""
    try:
        return project_of_queue(queue_of(task_id)) if task_id else None
    except ValueError:
        return None


def agent_for(agent: str | None, project_id: str | None = None) -> tuple[Principal, str]:
    """Who acts as which agent: a session as its own agent (and only in its
    project), else a caller with agents:write as the agent it names (within
    its limits; a route's task_id names the project acted in)."""
    p = caller()
    if p.kind == "session":
        if agent is not None and agent != p.subject:
            raise _forbidden(f"this session acts as agent {p.subject!r}, not {agent!r}")
        if project_id is not None and project_id != p.project_id:
            raise _forbidden("this session belongs to another project")
        return p, p.subject
    need("agents:write")
    if not agent:
        raise validation_error([{"field": "agentName", "value": None,
                                 "message": "required when not calling with an agent session"}])
    if p.agents is not None or p.projects is not None:
        if not p.may_act_as(agent):
            raise _forbidden(f"this credential may not act as agent {agent!r}")
        task_id = (request.view_args or {}).get("task_id")
        if project_id is not None:
            _forbidden_project(p, project_id)
        if task_id is not None:
            _forbidden_project(p, _project_of_task(task_id))
    return p, agent
