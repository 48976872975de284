"""The Tasker dialect (its API document), mounted on /tasker: handler
discovery, workflows ("tasks") and their steps, diagrams, analytics, health
and metrics. The engine half is taskq.workflows; errors take Tasker's own
bare shape (its renderer, errors.tasker_body); every route also counts
against a budget per client IP (TASKQ_TASKER_RATE_LIMIT). Its permissions
are scopes of its own (permissions.PERMISSIONS); its health probes and
vendored assets are open, and its probes and metrics scrape uncounted."""

from __future__ import annotations

from ...auth import START_WORKFLOW
from ..base import Dialect
from . import (routes_analytics, routes_diagrams, routes_docs, routes_handlers, routes_health,
               routes_tasks, routes_workflow_steps)
from .errors import tasker_body
from .permissions import PERMISSIONS, WORKFLOW_START
from .schemas_common import TaskerErrorSchema
from .runtime import NAME, SETTINGS, ip_rate, make_state

DIALECT = Dialect(
    name=NAME, url_prefix="/tasker",
    blueprints=(routes_handlers.blp, routes_tasks.blp, routes_workflow_steps.blp,
                routes_diagrams.blp, routes_analytics.blp, routes_health.blp, routes_docs.blp),
    error_style=tasker_body, settings=SETTINGS, make_state=make_state, paths=("/",), ip_rate=ip_rate,
    error_schema=TaskerErrorSchema, scopes=PERMISSIONS, action_scopes={START_WORKFLOW: WORKFLOW_START},
    open_paths=("/health/ready", "/health/live", "/assets"),
    uncounted_paths=("/metrics", "/health/ready", "/health/live"))
