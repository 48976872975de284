"""A schedule run's state, read from what it became: its engine tasks
(found by the run's tag) or, for a handler run, its workflow."""

from __future__ import annotations

from typing import Any

from ..isotime import iso
from ..queue import Queue
from . import model
from .firing import run_tag, workflow_run_id


def run_status(q: Queue, sid: str, run_key: str) -> dict[str, Any]:
    """A run's state from its engine tasks: failed if any failed, cancelled
    if any was, completed when all are, running when one is, else pending;
    with start, end and the first error."""
    tasks = q.list(tag=run_tag(sid, run_key), limit=model.MAX_PIPELINE_STEPS)
    if not tasks:
        return workflow_run_status(q, sid, run_key)
    states = [t.status for t in tasks]
    if "failed" in states:
        status = "failed"
    elif "cancelled" in states:
        status = "cancelled"
    elif all(s == "completed" for s in states):
        status = "completed"
    elif "running" in states or "completed" in states:
        status = "running"
    else:
        status = "pending"
    started = [t.started_at for t in tasks if getattr(t, "started_at", None)]
    ended = [t.finished_at for t in tasks if getattr(t, "finished_at", None)]
    errors = [t.error for t in tasks if getattr(t, "error", None)]
    return {"status": status, "task_ids": sorted(t.id for t in tasks),
            "started_at": iso(min(started)) if started else None,
            "ended_at": iso(max(ended)) if status in ("completed", "failed", "cancelled") and ended else None,
            "error": errors[0] if errors else None}


WORKFLOW_RUN_STATUS = {"pending": "pending", "in_progress": "running", "complete": "completed",
                       "error": "failed", "cancelled": "cancelled"}
"""A handler run's status from its workflow's (taskq.workflows.WORKFLOW_STATUSES)."""


def workflow_run_status(q: Queue, sid: str, run_key: str) -> dict[str, Any]:
    """A handler run's state from its workflow (its status as the workflow
    engine derives it: a skippable step that failed does not fail the run)."""
    from .. import workflows
    wid = workflow_run_id(sid, run_key)
    try:
        wf = workflows.get(q.redis, wid, prefix=q.keys.prefix)
    except workflows.WorkflowNotFound:
        return {"status": "unknown", "task_ids": []}
    steps_ = wf["steps"]
    started = [s["started_at"] for s in steps_ if s["started_at"]]
    ended = [s["completed_at"] for s in steps_ if s["completed_at"]]
    errors = [s["error"] for s in steps_ if s["error"]]
    status = WORKFLOW_RUN_STATUS[wf["status"]]
    return {"status": status, "task_ids": sorted(s["task_id"] for s in steps_),
            "workflow_id": wid,
            "started_at": min(started) if started else None,
            "ended_at": max(ended) if status in ("completed", "failed", "cancelled") and ended else None,
            "error": errors[0] if errors else None}
