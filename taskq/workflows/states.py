"""What a workflow's and its steps' statuses are, from their engine tasks'
(the Tasker document's names), and the constants every part reads: pure
functions, so the engine's callers (the worker's follow-ups in
taskq.workflows.status) need not import the engine and its Queue."""

from __future__ import annotations

from ..task import Task

RUNNER = "taskq.workflows.runner:run_step"
STEP_STATUSES = ("pending", "in_progress", "complete", "error", "cancelled", "skipped")
WORKFLOW_STATUSES = ("pending", "in_progress", "complete", "error", "cancelled")
CREATING = "creating"
"""Record field present from the record's write until its steps are enqueued."""
CREATE_GRACE = 300.0
"""Seconds a record marked creating may wait for its steps before the sweep
takes them for never coming (the creator died between its two writes)."""



DEPENDENCY_REASON = "dependency "
"""How the error of a step that ended because a step it needs did not
complete begins: the engine's dependency failure ('dependency <id> failed')
and the runner's stop ('dependency <step> did not complete')."""


def ended_by_dependency(task: Task) -> bool:
    return task.status in ("failed", "cancelled") and (task.error or "").startswith(DEPENDENCY_REASON)


def step_status(task: Task | None, skippable: bool, enqueued: bool = True) -> str:
    """The document's step status from the engine task's. A step that ended
    because a step it needs did not complete is ``cancelled``, skippable or
    not (skipping it must not let its dependents run past that failure).
    A missing task is ``pending`` while the steps may not be enqueued yet
    (``enqueued`` False: see awaits_steps), else ``cancelled`` (deleted)."""
    if task is None:
        return "cancelled" if enqueued else "pending"
    s = task.status
    if s == "completed":
        return "complete"
    if s in ("failed", "cancelled"):
        if ended_by_dependency(task):
            return "cancelled"
        if skippable:
            return "skipped"
        return "error" if s == "failed" else "cancelled"
    if s == "running" or task.attempts > 0:
        return "in_progress"  # running, or waiting for its next attempt
    return "pending"


def workflow_status(statuses: list[str]) -> str:
    """Error as soon as a step is in error; cancelled when a step was
    cancelled; complete when every step is complete or skipped; in progress
    once any step started; else pending."""
    if "error" in statuses:
        return "error"
    if "cancelled" in statuses:
        return "cancelled"
    if all(s in ("complete", "skipped") for s in statuses):
        return "complete"
    if any(s != "pending" for s in statuses):
        return "in_progress"
    return "pending"


def awaits_steps(record: dict) -> bool:
    """Whether the record's steps may not all be enqueued yet: it is still
    marked creating and no outcome was filed (the sweep files a creation
    whose steps never came)."""
    return bool(record.get(CREATING)) and not record.get("outcome")
