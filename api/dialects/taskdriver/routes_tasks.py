"""A project's tasks: list, create, create in bulk. One task by id
(/api/tasks/{id}) is the route shared with the DTS dialect (api.shared_tasks)."""

from __future__ import annotations

from flask.views import MethodView

from ...envelope import ok
from ...schemas import envelope
from .runtime import state
from .access import blueprint, gate
from ...shared_tasks.schemas import TDTaskSchema
from .schemas_common import OffsetPageSchema
from .schemas_tasks import BulkResultSchema, BulkSchema, TDTaskCreateSchema, TDTaskListArgsSchema
from .serializers import STATUS_QUERY, canonical_id, task_view

blp = blueprint("TaskDriver Tasks", "A project's tasks: list with filters, create, create in bulk")


@blp.route("/projects/<project_id>/tasks")
class ProjectTasks(MethodView):
    @gate("projects:read")
    @blp.arguments(TDTaskListArgsSchema, location="query")
    @blp.response(200, envelope(TDTaskSchema, True, OffsetPageSchema))
    def get(self, args, project_id):
        """List a project's tasks, newest first (status, assignedTo, batchId,
        typeId; limit 1-1000; offset)."""
        tasks, total = state().service.list(
            canonical_id(project_id), STATUS_QUERY[args["status"]] if args.get("status") else (),
            args.get("assignedTo"), args.get("batchId"),
            canonical_id(args["typeId"]) if args.get("typeId") else None,
            args["offset"], args["limit"])
        return ok([task_view(t) for t in tasks],
                  {"total": total, "limit": args["limit"], "offset": args["offset"]})

    @gate("projects:write")
    @blp.arguments(TDTaskCreateSchema)
    @blp.response(201, envelope(TDTaskSchema))
    @blp.alt_response(200, schema=envelope(TDTaskSchema),
                      description="duplicateHandling 'ignore': the unfinished task with the same type "
                                  "and variables")
    @blp.alt_response(409, description="duplicateHandling 'fail', or the project is closed")
    def post(self, body, project_id):
        """Create a task of a task type: its template rendered with the
        variables becomes the instructions (a type without a template takes
        the body's instructions)."""
        task, created = state().service.create(canonical_id(project_id), body)
        return ok(task_view(task)), 201 if created else 200


@blp.route("/projects/<project_id>/tasks/bulk", methods=["POST"])
@gate("projects:write")
@blp.arguments(BulkSchema)
@blp.response(201, envelope(BulkResultSchema))
@blp.alt_response(409, description="duplicateHandling 'fail' and a duplicate, or the project is closed")
def create_bulk(body, project_id):
    """Create up to 1000 tasks in one round trip to Redis. Every task is
    validated first: one invalid task refuses the whole batch (422)."""
    result = state().service.create_bulk(canonical_id(project_id), body["tasks"], body.get("batchId"))
    result["tasks"] = [task_view(t) for t in result["tasks"]]
    return ok(result)
