"""Acting on a running workflow: change a step, cancel a step, list workflows.

These are the engine halves of the step PATCH / DELETE and task listing a
dialect serves; each validates its input as the enqueue options are
validated (TaskqValueError naming the field) and changes a step only
through its engine task's own scripts.
"""

from __future__ import annotations

import json
from typing import Any

from ..connection import as_taskq_client
from ..errors import Conflict, InvalidState, TaskqValueError
from ..keys import DEFAULT_PREFIX, WorkflowKeys
from ..options import InvalidField, json_text
from ..queue import Queue
from . import listing
from .engine import get
from .handlers import MAX_RETRY_LIMIT

FINISHED = ("complete", "error", "cancelled", "skipped")


class StepNotFound(TaskqValueError, LookupError):
    code = "step_not_found"


def _step(redis, workflow_id: str, step: str, prefix: str | None) -> tuple[dict, dict]:
    wf = get(redis, workflow_id, prefix=prefix)
    for s in wf["steps"]:
        if s["name"] == step:
            return wf, s
    raise StepNotFound(f"workflow {workflow_id} has no step {step!r}")


def update_step(redis, workflow_id: str, step: str, *, retry_limit: Any = None,
                inputs: Any = None, prefix: str | None = None) -> dict:
    """Change a step that has not finished: ``retry_limit`` (its engine
    task's max_retries, in one script call: before it runs, while it waits
    out a retry's backoff, or while it runs, when the new limit decides
    whether its current attempt's failure is retried) and ``inputs`` (read
    by the step when it starts). Returns the step as ``get`` shows it."""
    redis = as_taskq_client(redis)
    if retry_limit is None and inputs is None:
        raise TaskqValueError("nothing to update: give retry_limit and/or inputs")
    if retry_limit is not None and (isinstance(retry_limit, bool) or not isinstance(retry_limit, int)
                                    or not 0 <= retry_limit <= MAX_RETRY_LIMIT):
        raise InvalidField("retry_limit", f"must be an integer from 0 to {MAX_RETRY_LIMIT}")
    if inputs is not None and not isinstance(inputs, dict):
        raise InvalidField("inputs", "must be a JSON object")
    text = json_text("inputs", inputs) if inputs is not None else None
    wf, s = _step(redis, workflow_id, step, prefix)
    if s["status"] in FINISHED:
        raise InvalidState(f"step {step} is {s['status']}: it can no longer change", status=s["status"])
    if retry_limit is not None:
        try:
            Queue(wf["queue"], redis=redis, prefix=prefix).set_retry_limit(s["task_id"], retry_limit)
        except InvalidState as exc:  # it finished since it was read
            now = _step(redis, workflow_id, step, prefix)[1]["status"]
            raise InvalidState(f"step {step} is {now}: it can no longer change", status=now) from exc
    if text is not None:
        redis.hset(WorkflowKeys(prefix or DEFAULT_PREFIX).workflow(workflow_id), f"inputs:{step}", text)
    return _step(redis, workflow_id, step, prefix)[1]


def cancel_step(redis, workflow_id: str, step: str, *, force: bool = False,
                prefix: str | None = None) -> dict:
    """Cancel a step's engine task (a running one stops at its next
    heartbeat, or at once with ``force``). A skippable step is then
    ``skipped`` and its dependents go on; any other is ``cancelled`` and so
    are the steps that need it."""
    redis = as_taskq_client(redis)
    wf, s = _step(redis, workflow_id, step, prefix)
    if s["status"] in FINISHED:
        raise InvalidState(f"step {step} is already {s['status']}", status=s["status"])
    try:
        Queue(wf["queue"], redis=redis, prefix=prefix).cancel(
            s["task_id"], reason=f"step {step} cancelled", mode="force" if force else "request")
    except Conflict as exc:
        raise InvalidState(f"step {step} cannot be cancelled now: {exc}", status=s["status"]) from exc
    return _step(redis, workflow_id, step, prefix)[1]


def list_workflows(redis, *, namespace: str | None = None, name: str | None = None,
                   version: str | None = None, status: str | None = None,
                   offset: int = 0, limit: int = 25, prefix: str | None = None) -> tuple[list[dict], int]:
    """Workflows newest first matching the filters, and how many match,
    read from indexes (taskq.workflows.listing says what a page costs)."""
    return listing.list_workflows(redis, namespace=namespace, name=name, version=version,
                                  status=status, offset=offset, limit=limit, prefix=prefix)
