"""The Distributed Task Scheduler dialect (spec/distributed-task-scheduler-api.md),
mounted on /api."""

from __future__ import annotations

from . import system, tasks, webhooks, workers

BLUEPRINTS = (tasks.blp, workers.blp, system.blp, webhooks.blp)


def register(api, url_prefix: str = "/api") -> None:
    for blp in BLUEPRINTS:
        api.register_blueprint(blp, url_prefix=url_prefix)
