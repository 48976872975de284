"""Tasks (workflow runs): create one from a published handler, list them
with the document's pagination block, and read one with its steps."""

from __future__ import annotations

from ...errors import validation_as
from . import lookup
from .access import blueprint, permission
from .schemas_common import TaskerErrorSchema
from .schemas_tasks import (MAX_PER_PAGE, TaskerTaskCreateSchema, TaskerTaskDetailArgsSchema, TaskerTaskDetailSchema,
                            TaskerTaskListArgsSchema, TaskerTaskListSchema, TaskerTaskSchema)
from .serializers import task_detail, task_view
from .runtime import state

blp = blueprint("Tasks", "Tasks: runs of a handler, one engine task per step")


@blp.route("/tasks", methods=["POST"])
@permission("tasker.task:create")
@validation_as("invalid_task_config", "Invalid task configuration")
@blp.arguments(TaskerTaskCreateSchema)
@blp.response(201, TaskerTaskSchema)
@blp.alt_response(404, schema=TaskerErrorSchema, description="HANDLER_NOT_FOUND")
def create_task(body):
    """Start a run of ``namespace.name`` at ``version`` (default: the latest published)."""
    svc = state().workflows
    h = svc.handler(body["namespace"], body["name"], body.get("version"))
    if h is None:
        raise lookup.handler_not_found(body["namespace"], body["name"], body.get("version"))
    return task_view(svc.create(h, body["context"]))


@blp.route("/tasks", methods=["GET"])
@permission("tasker.task:index")
@blp.arguments(TaskerTaskListArgsSchema, location="query")
@blp.response(200, TaskerTaskListSchema)
def list_tasks(args):
    """Tasks newest first, filtered by namespace, name, version and status;
    ``per_page`` above 100 is served as 100."""
    per_page = min(args["per_page"], MAX_PER_PAGE)
    items, total = state().workflows.list(
        namespace=args.get("namespace"), name=args.get("name"), version=args.get("version"),
        status=args.get("status"), page=args["page"], per_page=per_page)
    return {"tasks": [task_view(wf) for wf in items],
            "pagination": {"current_page": args["page"], "per_page": per_page,
                           "total_pages": -(-total // per_page), "total_count": total}}


@blp.route("/tasks/<task_id>", methods=["GET"])
@permission("tasker.task:show")
@blp.arguments(TaskerTaskDetailArgsSchema, location="query")
@blp.response(200, TaskerTaskDetailSchema)
@blp.alt_response(404, schema=TaskerErrorSchema, description="TASK_NOT_FOUND")
def show_task(args, task_id):
    """One task with its steps; ``include_dependencies=true`` adds which
    steps are completed, ready and blocked."""
    return task_detail(lookup.task(task_id), args["include_dependencies"])
