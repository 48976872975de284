"""The Distributed Task Scheduler dialect (spec/distributed-task-scheduler-api.md),
mounted on /api."""

from __future__ import annotations

from . import routes_system, routes_tasks, routes_webhooks, routes_workers

BLUEPRINTS = (routes_tasks.blp, routes_workers.blp, routes_system.blp, routes_webhooks.blp)


def register(api, url_prefix: str = "/api") -> None:
    for blp in BLUEPRINTS:
        api.register_blueprint(blp, url_prefix=url_prefix)
