"""The Tasker dialect's settings and state, kept in the app's dialect
registry (``app.extensions["taskq.dialects"]["tasker"]``)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from ...config import ConfigError, parse_rate
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
    redis: object
    prefix: str
    rate_ip: object             # api.config.parse_rate(...) of TASKQ_TASKER_RATE_LIMIT
    health_status_auth: bool
    workflows: WorkflowService


def _flag(name: str, value) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, value, "true or false")


def make_state(app: Flask, st) -> TaskerState:
    return TaskerState(
        redis=st.redis, prefix=st.keys.prefix,
        rate_ip=parse_rate(app.config["TASKQ_TASKER_RATE_LIMIT"], "TASKQ_TASKER_RATE_LIMIT"),
        health_status_auth=_flag("TASKQ_TASKER_HEALTH_STATUS_AUTH",
                                 app.config["TASKQ_TASKER_HEALTH_STATUS_AUTH"]),
        workflows=WorkflowService(st.redis, st.keys.prefix, st.workers))


def ip_rate(tasker: TaskerState):
    """The per-IP budget api.middleware counts on every /tasker route."""
    return tasker.rate_ip


def state() -> TaskerState:
    return current_app.extensions["taskq.dialects"][NAME]
