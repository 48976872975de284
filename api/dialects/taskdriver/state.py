"""The TaskDriver dialect's settings and state, kept in the app's dialect
registry (``app.extensions["taskq.dialects"]["taskdriver"]``). The services
are the app's own (api.state.AppState), built once on one Keys."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from ...config import login_mode

NAME = "taskdriver"
SETTINGS = {
    "TASKQ_TASKDRIVER_LOGIN": "open",
    "TASKQ_TASKDRIVER_SESSION_TTL": "3600",
}
"""TaskDriver settings (environment, or create_app's config): whether login
needs a credential ('open' or 'credential'), and seconds a session lives."""


@dataclass(frozen=True)
class TaskDriverState:
    service: object     # api.services.project_tasks.ProjectTaskService
    agents: object      # api.services.agents.AgentService
    sessions: object    # api.services.sessions.SessionStore
    projects: object    # taskq.projects.store.ProjectStore
    types: object       # taskq.projects.task_types.TaskTypeStore
    login: str          # 'open' | 'credential'
    session_ttl: float


def make_state(app: Flask, st) -> TaskDriverState:
    from .routes_auth import announce_mode

    login = login_mode(app.config["TASKQ_TASKDRIVER_LOGIN"])  # ConfigError when not valid
    announce_mode(login)
    return TaskDriverState(st.project_tasks, st.agents, st.sessions, st.projects, st.types, login,
                           float(app.config["TASKQ_TASKDRIVER_SESSION_TTL"]))


def state() -> TaskDriverState:
    return current_app.extensions["taskq.dialects"][NAME]
