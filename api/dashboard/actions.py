"""What an operator does from the dashboard: POST only, each checked for
its CSRF token (access.before) and for scope ``dashboard`` (require_act).

An action answers JSON ``{"ok", "message", "location"?}`` to the page's
script, and a plain form post a 303 back to the page (``next``) with the
message shown there once. Every change goes through the same engine calls
as the API and the CLI, by the app's services (api.services: tasks, the
schedule service's store, workflows).
"""

from __future__ import annotations

from typing import Callable

from flask import Blueprint, jsonify, redirect, request, url_for

from taskq.errors import InvalidState
from taskq.schedules.store import MAX_SNOOZE

from ..auth import START_WORKFLOW, action_scope, check_scope
from ..errors import ApiError
from ..numbers import NotANumber, parse_int
from ..app_state import state
from . import access, privacy, reads

RETRY_ALL_CAP = 5000
"""Failed tasks one "retry all failed" retries at most (click again for more)."""
CANCEL_MODES = ("request", "force")


def _done(message: str, location: str | None = None):
    session = access.current()
    if access.wants_json():
        body = {"ok": True, "message": message}
        if location:
            body["location"] = location
        return jsonify(body)
    access.store().flash(session, message)
    return redirect(location or access.safe_next(request.form.get("next")), code=303)


def _schedules():
    """The engine's schedule store (taskq.schedules.Schedules) the app's schedule service holds."""
    return state().schedules.store


def add_action(bp: Blueprint, rule: str, endpoint: str, act: Callable[..., tuple]) -> None:
    """POST ``rule``: ``act(**view_args) -> (message, location or None)``."""
    def view(**kwargs):
        access.require_act()
        privacy.guard(endpoint, kwargs)
        return _done(*act(**kwargs))
    bp.add_url_rule(rule, endpoint, view, methods=["POST"])


# -- queues -------------------------------------------------------------------------
def pause_queue(name: str):
    state().tasks.queue(reads.known_queue(state(), name)).pause()
    return f"queue {name} paused", None


def resume_queue(name: str):
    state().tasks.queue(reads.known_queue(state(), name)).resume()
    return f"queue {name} resumed", None


def retry_failed(name: str):
    st = state()
    q = st.tasks.queue(reads.known_queue(st, name))
    ids = st.tasks.failed_ids(q.name, RETRY_ALL_CAP)
    retried = 0
    for tid in ids:
        try:
            q.retry(tid)
            retried += 1
        except InvalidState:  # retried or deleted meanwhile
            continue
    left = q.count("failed")
    return f"{retried} failed task{'s' if retried != 1 else ''} of {name} retried" + (
        f"; {left} still failed" if left else ""), None


def purge_queue(name: str):
    st = state()
    name = reads.known_queue(st, name)
    if request.form.get("confirm", "") != name:
        raise ApiError(422, "confirm_mismatch", "type the queue's name to confirm the purge",
                       {"fields": {"confirm": ["must equal the queue's name"]}})
    n = st.tasks.queue(name).purge()
    return f"queue {name} purged ({n} keys deleted)", url_for("dashboard.queues")


# -- tasks --------------------------------------------------------------------------
def cancel_task(task_id: str):
    mode = request.form.get("mode", "request")
    if mode not in CANCEL_MODES:
        raise ApiError(422, "invalid_mode", "mode must be request or force")
    outcome, _ = state().tasks.cancel(task_id, "cancelled from the dashboard", mode)
    return f"task {task_id}: {outcome}", None


def retry_task(task_id: str):
    state().tasks.retry(task_id)
    return f"task {task_id} queued again", None


def delete_task(task_id: str):
    st = state()
    task = st.tasks.get(task_id)
    st.tasks.delete(task_id, force=request.form.get("force") == "1")
    return f"task {task_id} deleted", url_for("dashboard.queue", name=task.queue)


# -- schedules ----------------------------------------------------------------------
def pause_schedule(sid: str):
    return f"schedule {_schedules().pause(sid)['title']} paused", None


def resume_schedule(sid: str):
    s = _schedules().resume(sid)
    return f"schedule {s['title']} resumed; next run {s['next_run_at'] or '(none)'}", None


def run_schedule_now(sid: str):
    """As POST /tasks/{id}/run_now: a schedule whose runs start a Tasker
    workflow also needs the scope starting one needs (api.auth.action_scope)."""
    service = state().schedules
    if service.starts_workflow({}, sid):
        check_scope(action_scope(START_WORKFLOW), "running a schedule that starts a Tasker workflow")
    out = service.store.run_now(sid)
    return f"run {out['run']}: {out['outcome']} ({len(out['task_ids'])} task(s))", None


def snooze_schedule(sid: str):
    try:
        delay = parse_int(request.form.get("delay_seconds", ""), 1, MAX_SNOOZE)
    except NotANumber as e:
        raise ApiError(422, "invalid_delay", f"delay_seconds {e}",
                       {"fields": {"delay_seconds": [f"1 to {MAX_SNOOZE}"]}}) from None
    s = _schedules().snooze(sid, delay, "snoozed from the dashboard")
    return f"schedule {s['title']} snoozed; next run {s['next_run_at']}", None


# -- workflows ----------------------------------------------------------------------
def cancel_step(workflow_id: str, step: str):
    s = state().workflows.cancel_step(workflow_id, step, force=request.form.get("mode") == "force")
    return f"step {step}: {s['status']}", None


def register(bp: Blueprint) -> None:
    for rule, endpoint, act in (
        ("/queues/<name>/pause", "pause_queue", pause_queue),
        ("/queues/<name>/resume", "resume_queue", resume_queue),
        ("/queues/<name>/retry-failed", "retry_failed", retry_failed),
        ("/queues/<name>/purge", "purge_queue", purge_queue),
        ("/tasks/<path:task_id>/cancel", "cancel_task", cancel_task),
        ("/tasks/<path:task_id>/retry", "retry_task", retry_task),
        ("/tasks/<path:task_id>/delete", "delete_task", delete_task),
        ("/schedules/<sid>/pause", "pause_schedule", pause_schedule),
        ("/schedules/<sid>/resume", "resume_schedule", resume_schedule),
        ("/schedules/<sid>/run-now", "run_schedule_now", run_schedule_now),
        ("/schedules/<sid>/snooze", "snooze_schedule", snooze_schedule),
        ("/workflows/<workflow_id>/steps/<step>/cancel", "cancel_step", cancel_step),
    ):
        add_action(bp, rule, endpoint, act)
