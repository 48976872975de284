"""What the TaskDriver routes work with at run time, kept in the app's
dialect registry (``app.extensions["taskq.dialects"]["taskdriver"]``), with its settings
(.settings) checked. The services are the app's own (api.app_state.AppState),
built once on one Keys."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from ...config import ConfigError
from .settings import CHECKS, LOGIN, SESSION_TTL, announce_mode

NAME = "taskdriver"


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
    login = setting(app, LOGIN)
    announce_mode(login)
    return TaskDriverState(st.project_tasks, st.agents, st.sessions, st.projects, st.types, login,
                           setting(app, SESSION_TTL))


def setting(app: Flask, name: str):
    """A TaskDriver setting of the app, parsed (settings.CHECKS); ConfigError
    naming it when it is not valid."""
    value = app.config[name]
    try:
        return CHECKS[name](value)
    except ValueError as exc:
        raise ConfigError(name, value, str(exc)) from None


def state() -> TaskDriverState:
    return current_app.extensions["taskq.dialects"][NAME]
