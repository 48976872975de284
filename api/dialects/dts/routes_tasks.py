"""DTS tasks: /api/tasks and its actions. DTS tasks live in one engine queue
(TASKQ_DTS_QUEUE, "dts" by default); a task of any queue can be read and
acted on by its id (the id names its queue), since /api/tasks/{id} is the
one route every dialect on /api shares: it answers the union of the DTS and
TaskDriver fields (api.taskdriver.views.union_view), as does the create
call, so one task reads the same on every route that answers one task. On a
TaskDriver project's task, projects:read / projects:write also allow it."""

from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from ...auth import current_principal, secured
from ...envelope import ok, page_meta
from ...errors import ApiError
from ...schemas import PageMetaSchema, envelope
from ...services.tasks import NeedsLeaseToken
from ...state import state
from ..taskdriver import state as taskdriver_state
from ..taskdriver.access import shared_scope
from ..taskdriver.schemas import UnionTaskSchema, UnionTaskUpdateSchema
from ..taskdriver.serializers import union_view
from .schemas import (CheckpointOutSchema, CheckpointSchema, DeleteArgsSchema, LogArgsSchema,
                      LogLineSchema, LogMetaSchema, MessageSchema, TaskCreateSchema,
                      TaskListArgsSchema, TaskSchema, TaskStatusSchema)
from .serializers import STATUS_QUERY, log_view, task_view

blp = Blueprint("Tasks", __name__, description="Tasks: create, list, change, cancel, retry, logs, checkpoints")

META_FIELDS = ("name", "description", "command", "checkpoint_enabled")
"""DTS fields kept in the engine task's meta."""


def _engine_options(body: dict) -> dict:
    """DTS fields -> Queue.enqueue / Queue.update options."""
    out = {}
    meta = {k: body[k] for k in META_FIELDS if k in body}
    if meta:
        out["meta"] = meta
    renames = {"priority": "priority", "max_retries": "max_retries", "scheduled_at": "scheduled_at",
               "timeout_seconds": "timeout", "tags": "tags", "dependencies": "depends_on"}
    for dts, engine in renames.items():
        if dts in body:
            out[engine] = body[dts]
    return out


@blp.route("/tasks")
class Tasks(MethodView):
    @secured("tasks:read")
    @blp.arguments(TaskListArgsSchema, location="query")
    @blp.response(200, envelope(TaskSchema, True, PageMetaSchema))
    def get(self, args):
        """List tasks (filter by status or tag; sort; page)."""
        st = state()
        statuses = STATUS_QUERY[args["status"]] if args.get("status") else None
        page, limit = args["page"], args["limit"]
        tasks, total = st.tasks.search(st.dts_queue, statuses, args.get("tag"), args["sort"],
                                       args["order"] == "desc", (page - 1) * limit, limit)
        return ok([task_view(t) for t in tasks], page_meta(page, limit, total))

    @secured("tasks:write")
    @blp.arguments(TaskCreateSchema)
    @blp.response(201, envelope(UnionTaskSchema))
    def post(self, body):
        """Create a task (name and command required)."""
        st = state()
        task = st.tasks.create(st.dts_queue, **_engine_options(body))
        return ok(union_view(st.tasks.get(task.id)))


@blp.route("/tasks/<task_id>")
class TaskItem(MethodView):
    @shared_scope("tasks:read", "projects:read")
    @blp.response(200, envelope(UnionTaskSchema))
    def get(self, task_id):
        """Get one task: the DTS and TaskDriver fields (status, result and
        error in the words of the task's own dialect)."""
        return ok(union_view(state().tasks.get(task_id)))

    @shared_scope("tasks:write", "projects:write")
    @blp.arguments(UnionTaskUpdateSchema)
    @blp.response(200, envelope(UnionTaskSchema))
    def put(self, body, task_id):
        """Change a task that has not started (only the fields given): DTS
        fields, or a TaskDriver task's instructions and variables."""
        st = state()
        options = _engine_options(body)
        service = taskdriver_state().service
        task = st.tasks.get(task_id)
        if service.meta_changes(task, body):  # checked now, before any write
            dts_meta = options.get("meta", {})
            # merged again into the meta the engine's compare-and-set reads
            options["meta"] = lambda current: {**dts_meta, **service.meta_changes(task, body, current)}
        return ok(union_view(st.tasks.update(task_id, **options)))

    @shared_scope("tasks:write", "projects:write")
    @blp.arguments(DeleteArgsSchema, location="query")
    @blp.response(200, envelope(MessageSchema))
    def delete(self, args, task_id):
        """Delete a task (a running one only with force=true)."""
        state().tasks.delete(task_id, force=args["force"])
        return ok({"success": True, "message": "Task deleted successfully"})


@blp.route("/tasks/<task_id>/cancel", methods=["POST"])
@secured("tasks:write")
@blp.response(200, envelope(TaskStatusSchema))
def cancel(task_id):
    """Cancel a pending or running task now: it is cancelled when this
    answers. A running task's lease is revoked in the same step, so its
    worker's next heartbeat or report is refused and changes nothing."""
    _, task = state().tasks.cancel(task_id, mode="force")
    view = task_view(task)
    return ok({"id": task.id, "status": view["status"], "updated_at": view["updated_at"],
               "cancel_requested": False})


@blp.route("/tasks/<task_id>/retry", methods=["POST"])
@secured("tasks:write")
@blp.response(200, envelope(TaskStatusSchema))
def retry(task_id):
    """Run a failed or cancelled task again."""
    task = state().tasks.retry(task_id)
    view = task_view(task)
    return ok({"id": task.id, "status": view["status"], "retry_count": view["retry_count"],
               "updated_at": view["updated_at"]})


@blp.route("/tasks/<task_id>/logs", methods=["GET"])
@secured("tasks:read")
@blp.arguments(LogArgsSchema, location="query")
@blp.response(200, envelope(LogLineSchema, True, LogMetaSchema))
def logs(args, task_id):
    """A task's log lines, oldest first (filter by level; page by offset/limit)."""
    lines, total = state().tasks.logs(task_id, args.get("level"), args["offset"], args["limit"])
    return ok([log_view(x) for x in lines],
              {"limit": args["limit"], "offset": args["offset"], "total": total})


@blp.route("/tasks/<task_id>/checkpoint", methods=["POST"])
@secured("tasks:write")
@blp.arguments(CheckpointSchema)
@blp.response(200, envelope(CheckpointOutSchema))
def checkpoint(body, task_id):
    """Store a running task's checkpoint. The engine fences checkpoints by the
    lease token: send it as ``lease_token`` or the X-Lease-Token header. A
    caller with scope admin may omit it and write on the holder's behalf."""
    st = state()
    task = st.tasks.get(task_id)
    if not task_view(task)["checkpoint_enabled"]:
        raise ApiError(409, "checkpoint_disabled", f"task {task_id} was created without checkpoint_enabled")
    token = body.get("lease_token") or request.headers.get("X-Lease-Token") or None
    principal = current_principal()
    try:
        task = st.tasks.checkpoint(task_id, body["checkpoint_data"], token,
                                   act_for_holder=principal is not None and principal.allows("admin"))
    except NeedsLeaseToken:
        raise ApiError(403, "lease_token_required",
                       "send the task's lease token (lease_token or X-Lease-Token); "
                       "only scope admin may write without it") from None
    return ok({"id": task.id, "checkpoint_data": task.checkpoint, "updated_at": task.updated_at})
