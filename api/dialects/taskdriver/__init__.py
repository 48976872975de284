"""The TaskDriver dialect (spec/taskdriver-api.txt) on /api: projects, task
types, tasks, agents that lease tasks, and agent sessions.

It shares /api with the Distributed Task Scheduler dialect; /api/tasks/{id}
(GET, PUT, DELETE) is one route for both, answering the union of their
fields (api/dts/tasks.py). Errors on TaskDriver routes carry ``error`` as a
string, as its document and its client classes read it (api/errors.py).

Blueprints are imported in :func:`register`, not here: api.auth imports
this package's sessions module, and the views import api.auth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from flask import current_app

SETTINGS = {
    "TASKQ_TASKDRIVER_LOGIN": "open",
    "TASKQ_TASKDRIVER_SESSION_TTL": "3600",
}
"""TaskDriver settings (environment, or create_app's config): whether login
needs a credential ('open' or 'credential'), and seconds a session lives."""


@dataclass
class TaskDriverState:
    service: object     # .service.TaskDriverService
    agents: object      # .agents.AgentService
    sessions: object    # .sessions.SessionStore
    login: str          # 'open' | 'credential'
    session_ttl: float


def state() -> TaskDriverState:
    return current_app.extensions["taskdriver"]


def register(api, app, url_prefix: str = "/api") -> None:
    from ... import errors
    from ...config import ConfigError
    from . import access, routes_agents, routes_auth, routes_projects, routes_tasks
    from ...services.agents import AgentService
    from ...services.project_tasks import TaskDriverService
    from ...services.sessions import SessionStore

    for name, default in SETTINGS.items():
        if app.config.get(name) is None:
            app.config[name] = os.environ.get(name) or default
    login = str(app.config["TASKQ_TASKDRIVER_LOGIN"]).strip().lower()
    if login not in ("open", "credential"):
        raise ConfigError("TASKQ_TASKDRIVER_LOGIN", login, "'open' or 'credential'")
    routes_auth.announce_mode(login)
    st = app.extensions["taskq"]
    app.extensions["taskdriver"] = TaskDriverState(
        TaskDriverService(st.redis, st.keys), AgentService(st.redis, st.keys, st.tasks),
        SessionStore(st.redis, st.keys.prefix), login, float(app.config["TASKQ_TASKDRIVER_SESSION_TTL"]))
    for blp in (routes_auth.blp, routes_projects.blp, routes_tasks.blp, routes_agents.blp):
        api.register_blueprint(blp, url_prefix=url_prefix)
    errors.use_string_errors_when(access.string_errors)
