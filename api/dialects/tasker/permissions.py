"""The Tasker permissions: each /tasker route names one, as the Tasker
document names them (``tasker.<resource>:<action>``), and each is a scope a
token or key may carry. The descriptor declares them (``scopes``), so
``tasker.<resource>:*`` grants every action on a resource and ``tasker.*``
every Tasker permission (api.auth.Principal.allows), and the CLI knows
them."""

from __future__ import annotations

PERMISSIONS = (
    "tasker.handler:index", "tasker.handler:show",
    "tasker.task:index", "tasker.task:show", "tasker.task:create",
    "tasker.workflow_step:index", "tasker.workflow_step:show", "tasker.workflow_step:update",
    "tasker.workflow_step:destroy",
    "tasker.task_diagram:index",
    "tasker.analytics:performance", "tasker.analytics:bottlenecks",
    "tasker.health_status:index", "tasker.metrics:index",
)
"""The /tasker routes' permissions."""
WORKFLOW_START = "tasker.task:create"
"""Starting a workflow (``POST /tasker/tasks``). The descriptor names it
for api.auth.START_WORKFLOW, so whoever else starts one (a schedule whose
payload names a handler) requires it through the app's registry."""
