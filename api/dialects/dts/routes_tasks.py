"""DTS tasks: /api/tasks (list, create) and the actions on one task. DTS
tasks live in one engine queue (TASKQ_DTS_QUEUE, "dts" by default); a task
of any queue can be acted on by its id (the id names its queue). One task by
id (/api/tasks/{id}) is the route both dialects share (api.shared_tasks),
and the create call answers its union of fields."""

from __future__ import annotations

from flask import request
from flask.views import MethodView

from ...auth import current_principal, secured
from ...blueprint import Blueprint
from ...envelope import ok, page_meta
from ...errors import ApiError
from ...schemas import PageMetaSchema, envelope
from ...services.tasks import NeedsLeaseToken
from ...app_state import state
from ...shared_tasks.schemas import TaskSchema, UnionTaskSchema
from ...shared_tasks.serializers import engine_options, union_response
from .schemas_tasks import (CheckpointOutSchema, CheckpointSchema, LogArgsSchema, LogLineSchema,
                            LogMetaSchema, TaskCreateSchema, TaskListArgsSchema, TaskStatusSchema)
from .runtime import state as dts_state
from .serializers import STATUS_QUERY, log_view, task_view

blp = Blueprint("Tasks", __name__, description="Tasks: create, list, change, cancel, retry, logs, checkpoints")

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
        tasks, total = st.tasks.search(dts_state().queue, statuses, args.get("tag"), args["sort"],
                                       args["order"] == "desc", (page - 1) * limit, limit)
        return ok([task_view(t) for t in tasks], page_meta(page, limit, total))

    @secured("tasks:write")
    @blp.arguments(TaskCreateSchema)
    @blp.response(201, envelope(UnionTaskSchema))
    def post(self, body):
        """Create a task (name and command required)."""
        task = state().tasks.create(dts_state().queue, **engine_options(body))
        return union_response(task, 201)  # the task as written: nothing is read back


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
                                   act_for_holder=principal is not None and principal.allows("admin"),
                                   task=task)
    except NeedsLeaseToken:
        raise ApiError(403, "lease_token_required",
                       "send the task's lease token (lease_token or X-Lease-Token); "
                       "only scope admin may write without it") from None
    return ok({"id": task.id, "checkpoint_data": task.checkpoint, "updated_at": task.updated_at})
