"""The scheduled-tasks dialect's settings and state, kept in the app's
dialect registry (``app.extensions["taskq.dialects"]["schedules"]``)."""

from __future__ import annotations

from flask import Flask, current_app

from ...services.schedules import ScheduleService

NAME = "schedules"
SETTINGS = {"TASKQ_SCHEDULE_FUNCTIONS": ""}
"""Comma-separated ``module:function`` names (``module:*`` for a whole
module, ``*`` for any) that a schedule created over HTTP may run as its
``callable`` or as a pipeline step; empty: only steps registered by name."""


def make_state(app: Flask, st) -> ScheduleService:
    names = [n.strip() for n in str(app.config["TASKQ_SCHEDULE_FUNCTIONS"] or "").split(",")]
    return ScheduleService(st.redis, st.keys.prefix, [n for n in names if n])


def state() -> ScheduleService:
    return current_app.extensions["taskq.dialects"][NAME]
