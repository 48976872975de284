"""What the scheduled-tasks routes work with at run time, kept in the app's
dialect registry (``app.extensions["taskq.dialects"]["schedules"]``): the app's schedule
service (api.app_state.AppState builds it).

The dialect has no settings of its own. TASKQ_SCHEDULE_FUNCTIONS, the
allow-list of functions a schedule created over HTTP may run, is a limit of
the schedule service itself, not of this dialect's routes: it is read with
the app's settings (api.app) and given to the one ScheduleService, so every
caller that creates or changes a schedule through the app obeys it."""

from __future__ import annotations

from flask import Flask, current_app

from ...services.schedules import ScheduleService

NAME = "schedules"
SETTINGS: dict[str, str] = {}
"""None: TASKQ_SCHEDULE_FUNCTIONS belongs to the schedule service (see above)."""


def make_state(app: Flask, st) -> ScheduleService:
    return st.schedules


def state() -> ScheduleService:
    return current_app.extensions["taskq.dialects"][NAME]
