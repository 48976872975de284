"""A task's workflow steps: list, show, PATCH (retry_limit, inputs) and
DELETE (cancel). A step's name is its id in the URL."""

from __future__ import annotations

from . import lookup
from .access import blueprint, permission
from .schemas_common import TaskerErrorSchema
from .schemas_workflow_steps import TaskerStepSchema, TaskerStepUpdateSchema
from .serializers import step_view
from .runtime import state

blp = blueprint("Workflow Steps", "A task's steps: read them, change one that has not run, cancel one")

STEP_URL = "/tasks/<task_id>/workflow_steps/<step_id>"


@blp.route("/tasks/<task_id>/workflow_steps", methods=["GET"])
@permission("tasker.workflow_step:index")
@blp.response(200, TaskerStepSchema(many=True))
@blp.alt_response(404, schema=TaskerErrorSchema, description="TASK_NOT_FOUND")
def list_steps(task_id):
    """The task's steps in execution order."""
    wf = lookup.task(task_id)
    return [step_view(wf["id"], s) for s in wf["steps"]]


@blp.route(STEP_URL, methods=["GET"])
@permission("tasker.workflow_step:show")
@blp.response(200, TaskerStepSchema)
@blp.alt_response(404, schema=TaskerErrorSchema, description="TASK_NOT_FOUND or STEP_NOT_FOUND")
def show_step(task_id, step_id):
    """One step: status, results, attempts, inputs, times."""
    wf = lookup.task(task_id)
    return step_view(wf["id"], lookup.step(wf, step_id))


@blp.route(STEP_URL, methods=["PATCH"])
@permission("tasker.workflow_step:update")
@blp.arguments(TaskerStepUpdateSchema)
@blp.response(200, TaskerStepSchema)
@blp.alt_response(404, schema=TaskerErrorSchema, description="TASK_NOT_FOUND or STEP_NOT_FOUND")
@blp.alt_response(409, schema=TaskerErrorSchema,
                  description="STEP_FINISHED: it can no longer change")
def update_step(body, task_id, step_id):
    """Change a step that has not finished: ``retry_limit`` (also while it
    runs or waits for a retry: the new limit decides whether a failure is
    retried) and ``inputs`` (read when it starts)."""
    svc = state().workflows
    step = lookup.step_change(lambda t, s: svc.update_step(t, s, **body), task_id, step_id)
    return step_view(task_id.lower(), step)


@blp.route(STEP_URL, methods=["DELETE"])
@permission("tasker.workflow_step:destroy")
@blp.response(200, TaskerStepSchema)
@blp.alt_response(404, schema=TaskerErrorSchema, description="TASK_NOT_FOUND or STEP_NOT_FOUND")
@blp.alt_response(409, schema=TaskerErrorSchema, description="STEP_FINISHED: it already ended")
def cancel_step(task_id, step_id):
    """Cancel a step: ``cancelled`` (its dependents too), or ``skipped`` when
    it is skippable (its dependents go on). A running step stops at its
    next heartbeat; the answer is its state then."""
    step = lookup.step_change(state().workflows.cancel_step, task_id, step_id)
    return step_view(task_id.lower(), step)
