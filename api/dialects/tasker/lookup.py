"""Finding what a /tasker URL names, and the document's errors when it is
not there (NAMESPACE_NOT_FOUND, HANDLER_NOT_FOUND, TASK_NOT_FOUND,
STEP_NOT_FOUND), or when a step can no longer change (409)."""

from __future__ import annotations

from taskq.errors import InvalidState
from taskq.workflows import StepNotFound, WorkflowNotFound
from taskq.workflows.control import FINISHED

from ...errors import ApiError
from .runtime import state


def namespace_not_found(namespace: str) -> ApiError:
    return ApiError(404, "namespace_not_found", f"Namespace '{namespace}' does not exist")


def handler_not_found(namespace: str, name: str, version: str | None) -> ApiError:
    where = f"Handler '{name}' not found in namespace '{namespace}'"
    return ApiError(404, "handler_not_found", where + (f" version '{version}'" if version else ""))


def task_not_found(task_id: str) -> ApiError:
    return ApiError(404, "task_not_found", f"Task '{task_id}' not found")


def step_not_found(task_id: str, step: str) -> ApiError:
    return ApiError(404, "step_not_found", f"Step '{step}' not found in task '{task_id}'")


def task(task_id: str) -> dict:
    """The workflow the id names (404 TASK_NOT_FOUND, a non-UUID id too;
    TASK_EXPIRED for one the workflow retention removed)."""
    try:
        return state().workflows.get(task_id)
    except WorkflowNotFound:
        gone = state().workflows.removed(task_id)
        if gone:
            raise ApiError(404, "task_expired", f"Task '{task_id}' ended ({gone['status']}) "
                           "and was removed by retention") from None
        raise task_not_found(task_id) from None


def step(wf: dict, name: str) -> dict:
    for s in wf["steps"]:
        if s["name"] == name:
            return s
    raise step_not_found(wf["id"], name)


def refused_change(exc: InvalidState, step_name: str) -> ApiError:
    """A step that has finished (STEP_FINISHED), or that the engine would
    not change in the state it is in (STEP_CONFLICT): 409 with its status."""
    status = exc.status
    code = "step_finished" if status in FINISHED else "step_conflict"
    return ApiError(409, code, str(exc), {"step": step_name, "status": status})


def step_change(change, task_id: str, step_name: str) -> dict:
    """Run ``change(task_id, step_name)`` (the service's update or cancel),
    with its refusals in the document's words."""
    try:
        return change(task_id, step_name)
    except WorkflowNotFound:
        raise task_not_found(task_id) from None
    except StepNotFound:
        raise step_not_found(task_id, step_name) from None
    except InvalidState as exc:
        raise refused_change(exc, step_name) from None
