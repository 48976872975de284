"""Workflows: versioned handlers whose steps run as engine tasks (a DAG).

    from taskq import workflows
    workflows.load_configured()          # TASKQ_HANDLERS_PATH, TASKQ_EXAMPLES=1
    workflows.publish(redis)             # what this process can run, for every process
    wf = workflows.create(redis, "payments.process_payment", context={"payment_id": 1})
    workflows.get(redis, wf["id"])["status"]

Importing this package registers the workflow sweep (outcomes, pruning) in
taskq.maintenance.UPKEEP, so ``taskq scheduler`` runs it.
"""

from .. import maintenance
from . import sweep as _sweep
from .analytics import bottlenecks, performance
from .catalog import publish, published, unpublish
from .control import StepNotFound, cancel_step, list_workflows, update_step
from .graph import dependency_analysis, dependency_graph
from .listing import count_by_status
from .states import RUNNER, STEP_STATUSES, WORKFLOW_STATUSES
from .engine import WORKFLOW_QUEUE, HandlerNotFound, WorkflowNotFound, create, find_handler, get
from .handlers import (Handler, HandlerDefinitionError, Registry, StepTemplate, check_step_code,
                       handler, load_configured, parse_handler, register, registry, semver_key)

if _sweep.upkeep not in maintenance.UPKEEP:
    maintenance.UPKEEP.append(_sweep.upkeep)

__all__ = [
    "bottlenecks", "performance", "count_by_status",
    "Handler", "HandlerDefinitionError", "dependency_analysis", "dependency_graph", "cancel_step", "check_step_code", "list_workflows",
    "update_step", "HandlerNotFound", "Registry", "RUNNER", "STEP_STATUSES",
    "StepNotFound", "StepTemplate", "WORKFLOW_QUEUE", "WORKFLOW_STATUSES", "WorkflowNotFound", "create",
    "find_handler", "get", "handler", "load_configured", "parse_handler", "publish", "published",
    "register", "registry", "semver_key", "unpublish",
]
