"""The Distributed Task Scheduler dialect (its API document),
mounted on /api: tasks, workers, system views and webhooks. One task by id
is the route it shares with TaskDriver (api.shared_tasks)."""

from __future__ import annotations

from ..base import Dialect
from . import routes_system, routes_tasks, routes_webhooks, routes_workers
from .runtime import NAME, SETTINGS, make_state

DIALECT = Dialect(
    name=NAME, url_prefix="/api",
    blueprints=(routes_tasks.blp, routes_workers.blp, routes_system.blp, routes_webhooks.blp),
    error_style="object", settings=SETTINGS, make_state=make_state, versioned_paths=("",))
