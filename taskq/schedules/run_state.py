"""A schedule run's state, read from what it became: its engine tasks
(found by the run's tag) or, for a handler run, its workflow."""

from __future__ import annotations

from typing import Any

from ..isotime import iso, iso_ms
from ..queue import Queue
from . import model
from .firing import run_base_id, run_tag, workflow_run_id


def step_names(payload: dict | None) -> list[str] | None:
    """A pipeline payload's step names (None for any other payload)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("pipeline"), list):
        return None
    return [str(item.get("name", item.get("step"))) for item in payload["pipeline"]
            if isinstance(item, dict)]


def run_status(q: Queue, sid: str, run_key: str, steps: list[str] | None = None) -> dict[str, Any]:
    """A run's state from its engine tasks: failed if any failed, cancelled
    if any was, completed when all are, running when one is, else pending;
    with start, end and the first error. Tasks that retention removed
    count by their tombstones (``steps``: a pipeline's step names)."""
    tasks = q.list(tag=run_tag(sid, run_key), limit=model.MAX_PIPELINE_STEPS)
    if not tasks:
        gone = removed_run(q, sid, run_key, steps)
        return gone or workflow_run_status(q, sid, run_key)
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


def removed_run(q: Queue, sid: str, run_key: str, steps: list[str] | None) -> dict | None:
    """The state of a run whose tasks retention removed, from their
    tombstones (None when there are none: another kind of run, or gone too)."""
    base = run_base_id({"queue": q.name, "sid": sid, "run": run_key})
    ids = [f"{base}-{name}" for name in steps] if steps else [base]
    gone = [g for g in (q.removed(tid) for tid in ids) if g]
    if not gone or len(gone) < len(ids):
        return None
    states = {g["status"] for g in gone}
    status = ("failed" if "failed" in states else "cancelled" if "cancelled" in states
              else "completed")
    return {"status": status, "task_ids": sorted(ids), "removed": True,
            "ended_at": iso_ms(max(g["finished"] for g in gone)), "error": None}


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
