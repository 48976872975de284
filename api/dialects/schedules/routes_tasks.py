"""Scheduled tasks: /tasks (list, create), /tasks/{id} (read, partial
update) and the actions on one (run_now, snooze, pause, resume, cancel).
Each is one call on the engine's schedule store through the service
(api.services.schedules); the engine's refusals become HTTP in api.errors:
InvalidField -> 422 naming the field, ScheduleNotFound -> 404, a change
after cancel (InvalidState) -> 409."""

from __future__ import annotations

from flask.views import MethodView

from taskq.options import InvalidField

from ...auth import START_WORKFLOW, action_scope, check_scope, secured
from ...blueprint import Blueprint
from ...envelope import ok
from ...schemas import envelope
from .bodies import json_object
from .schemas_tasks import (RunNowSchema, ScheduledTaskCreateSchema, ScheduledTaskFieldsSchema,
                            ScheduledTaskListArgsSchema, ScheduledTaskListMetaSchema,
                            ScheduledTaskSchema, SnoozeSchema)
from .serializers import run_now_view, task_view
from .runtime import state

blp = Blueprint("Scheduled tasks", __name__,
                description="Scheduled tasks (cron, rrule, once, event): create, list, change, "
                            "run now, snooze, pause, resume, cancel")

ERRORS = {"404": "NOT_FOUND", "409": "CONFLICT"}


def may_start_workflows(body: dict, sid: str | None = None) -> None:
    """403 unless the caller may start Tasker workflows (the scope the
    dialect starting them names, api.auth.action_scope), when the schedule
    (as created, or as changed by ``body``) starts one on each run."""
    if state().starts_workflow(body, sid):
        check_scope(action_scope(START_WORKFLOW), "a scheduled task whose payload starts a Tasker workflow")


def body(schema) -> dict:
    """OpenAPI for a JSON body the engine validates (400 malformed, 422 invalid)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {"400": "BAD_REQUEST", "422": "UNPROCESSABLE_ENTITY"}}


@blp.route("/tasks")
class Tasks(MethodView):
    @secured("schedules:read")
    @blp.arguments(ScheduledTaskListArgsSchema, location="query")
    @blp.response(200, envelope(ScheduledTaskSchema, True, ScheduledTaskListMetaSchema))
    def get(self, args):
        """List scheduled tasks, newest first (filter by status, created_by, schedule_kind)."""
        created_by = args.get("created_by")
        views, total = state().store.list(
            status=args.get("status"), created_by=str(created_by) if created_by else None,
            schedule_kind=args.get("schedule_kind"), limit=args["limit"], offset=args["offset"])
        return ok([task_view(v) for v in views],
                  {"total": total, "limit": args["limit"], "offset": args["offset"]})

    @secured("schedules:write")
    @blp.doc(**body(ScheduledTaskCreateSchema))
    @blp.response(201, envelope(ScheduledTaskSchema))
    def post(self):
        """Create a scheduled task; its first run is computed at once (next_run_at).
        A payload naming a Tasker handler also needs scope tasker.task:create."""
        body = json_object()
        may_start_workflows(body)
        return ok(task_view(state().create(body)))


@blp.route("/tasks/<task_id>")
class Task(MethodView):
    @secured("schedules:read")
    @blp.doc(responses={"404": "NOT_FOUND"})
    @blp.response(200, envelope(ScheduledTaskSchema))
    def get(self, task_id):
        """One scheduled task with next_run_at and its recent runs (newest first)."""
        svc = state()
        return ok(task_view(svc.store.get(svc.known_id(task_id))))

    @secured("schedules:write")
    @blp.doc(**body(ScheduledTaskFieldsSchema))
    @blp.doc(responses=ERRORS)
    @blp.response(200, envelope(ScheduledTaskSchema))
    def put(self, task_id):
        """Change the fields given (all optional); a change of schedule_kind,
        schedule_expr or timezone recomputes the next run. A task whose payload
        (new or kept) names a Tasker handler also needs scope tasker.task:create."""
        body = json_object()
        may_start_workflows(body, task_id)
        return ok(task_view(state().update(task_id, body)))


@blp.route("/tasks/<task_id>/run_now", methods=["POST"])
@secured("schedules:write")
@blp.doc(responses=ERRORS)
@blp.response(200, envelope(RunNowSchema))
def run_now(task_id):
    """One immediate run; the schedule itself (next_run_at) is unchanged. A
    task whose payload names a Tasker handler also needs scope tasker.task:create."""
    svc = state()
    sid = svc.known_id(task_id)
    may_start_workflows({}, sid)
    return ok(run_now_view(sid, svc.store.run_now(sid)))


@blp.route("/tasks/<task_id>/snooze", methods=["POST"])
@secured("schedules:write")
@blp.doc(**body(SnoozeSchema))
@blp.doc(responses=ERRORS)
@blp.response(200, envelope(ScheduledTaskSchema))
def snooze(task_id):
    """Move the next run delay_seconds later (1..604800)."""
    svc = state()
    sid = svc.known_id(task_id)
    args = json_object()
    unknown = sorted(set(args) - {"delay_seconds", "reason"})
    if unknown:
        raise InvalidField(unknown[0], "unknown field")
    return ok(task_view(svc.store.snooze(sid, args.get("delay_seconds"), args.get("reason"))))


def _action(name: str, summary: str):
    def view(task_id):
        svc = state()
        return ok(task_view(getattr(svc.store, name)(svc.known_id(task_id))))
    view.__name__ = name
    view.__doc__ = summary
    blp.route(f"/tasks/<task_id>/{name}", methods=["POST"])(
        secured("schedules:write")(blp.doc(responses=ERRORS)(
            blp.response(200, envelope(ScheduledTaskSchema))(view))))


_action("pause", "Pause: no run until it is resumed.")
_action("resume", "Resume a paused task; runs missed while paused are not made up.")
_action("cancel", "Cancel for good: resume, snooze, run_now and PUT answer 409 afterwards.")
