"""The scheduled-tasks dialect (its API document, scheduled-tasks-api.txt),
mounted at the root: /tasks (recurring and one-shot schedules: cron, rrule,
once, event, with run_now, snooze, pause, resume, cancel) and /events
(publishing the events event tasks wait for). The engine half is
taskq.schedules; errors take the ``object`` style of /api."""

from __future__ import annotations

from ..base import Dialect
from . import routes_events, routes_tasks
from .runtime import NAME, SETTINGS, make_state

DIALECT = Dialect(
    name=NAME, url_prefix="",
    blueprints=(routes_tasks.blp, routes_events.blp),
    error_style="object", settings=SETTINGS, make_state=make_state, paths=("/tasks", "/events"),
    versioned_paths=("/tasks", "/events"))
