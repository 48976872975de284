"""The TaskDriver dialect (its API document) on /api: projects, task
types, tasks, agents that lease tasks, and agent sessions.

It shares /api with the Distributed Task Scheduler dialect; one task by id
(/api/tasks/{id}) is the route both use (api.shared_tasks). Its errors carry
``error`` as a string (style ``string``), as its document and its client
classes read it: on its own routes, on any call made with an agent session,
and on a project's task (``/api/tasks/td-...``) whatever route serves it.
"""

from __future__ import annotations

from ..base import Dialect
from . import routes_agents, routes_auth, routes_projects, routes_tasks
from .access import claims_request
from .schemas_common import TDErrorSchema
from .settings import SETTINGS
from .runtime import NAME, make_state

DIALECT = Dialect(
    name=NAME, url_prefix="/api",
    blueprints=(routes_auth.blp, routes_projects.blp, routes_tasks.blp, routes_agents.blp),
    error_style="string", settings=SETTINGS, make_state=make_state,
    paths=("/projects", "/task-types/", "/agents/", "/auth/"), claims=claims_request,
    error_schema=TDErrorSchema, shared_paths=("/api/tasks/{task_id}",), versioned_paths=("",),
    login_paths=("/auth/login",))
