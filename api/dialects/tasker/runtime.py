"""What the Tasker routes work with at run time, kept in the app's dialect
registry (``app.extensions["taskq.dialects"]["tasker"]``). The services
are the app's own (api.app_state.AppState): make_state picks them and parses
the dialect's settings, and builds nothing that talks to Redis."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from ...config import ConfigError, parse_rate
from ...services.analytics import AnalyticsService
from ...services.workflows import WorkflowService

NAME = "tasker"
SETTINGS = {
    "TASKQ_TASKER_RATE_LIMIT": "100/minute",
    "TASKQ_TASKER_HEALTH_STATUS_AUTH": "true",
}
"""Tasker settings (environment, or create_app's config): the per-IP budget
on every /tasker route, and whether /tasker/health/status needs a credential
with ``tasker.health_status:index``."""


@dataclass(frozen=True)
class TaskerState:
    rate_ip: object             # api.config.parse_rate(...) of TASKQ_TASKER_RATE_LIMIT
    health_status_auth: bool
    workflows: WorkflowService
    analytics: AnalyticsService


def _flag(name: str, value) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, value, "true or false")


def make_state(app: Flask, st) -> TaskerState:
    return TaskerState(
        rate_ip=parse_rate(app.config["TASKQ_TASKER_RATE_LIMIT"], "TASKQ_TASKER_RATE_LIMIT"),
        health_status_auth=_flag("TASKQ_TASKER_HEALTH_STATUS_AUTH",
                                 app.config["TASKQ_TASKER_HEALTH_STATUS_AUTH"]),
        workflows=st.workflows, analytics=st.analytics)


def ip_rate(tasker: TaskerState):
    """The per-IP budget api.middleware counts on every /tasker route."""
    return tasker.rate_ip


def state() -> TaskerState:
    return current_app.extensions["taskq.dialects"][NAME]
