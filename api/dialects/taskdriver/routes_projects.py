"""Projects and task types: /api/projects, /api/projects/{id}/stats,
/api/projects/{id}/task-types and /api/task-types/{id}."""

from __future__ import annotations

from flask.views import MethodView

from ...envelope import ok
from ...errors import validation_error
from ...schemas import envelope
from .runtime import state
from .access import blueprint, caller, gate, readable_project, reader
from .schemas_common import OffsetPageSchema, TDMessageSchema
from .schemas_projects import (ProjectCreateSchema, ProjectListArgsSchema, ProjectSchema, ProjectStatsSchema,
                               ProjectUpdateSchema, TaskTypeCreateSchema, TaskTypeSchema,
                               TaskTypeUpdateSchema)
from .serializers import canonical_id as _project_id, ms_iso, project_view, stats_view, type_view


def nothing_to_change() -> None:
    """An update must change something: an empty body (or none) is refused
    (422), as on PUT /api/tasks/{id}, rather than only bumping updatedAt.
    Callers look the record up first, so a missing one answers 404."""
    raise validation_error([{"field": "_schema", "value": None,
                             "message": "give at least one field to change"}])


blp = blueprint("TaskDriver Projects", "Projects (queues with defaults) and task types (templates)")

CONFIG_FIELDS = {"defaultMaxRetries": "max_retries", "defaultLeaseDurationMinutes": "lease_minutes",
                 "reaperIntervalMinutes": "reaper_minutes"}
TYPE_FIELDS = {"name": "name", "template": "template", "variables": "variables",
               "duplicateHandling": "duplicate_handling", "maxRetries": "max_retries",
               "leaseDurationMinutes": "lease_minutes"}


def _project_fields(body: dict) -> dict:
    out = {k: body[k] for k in ("name", "description", "instructions", "status") if k in body}
    for doc, engine in CONFIG_FIELDS.items():
        if doc in (body.get("config") or {}):
            out[engine] = body["config"][doc]
    return out


def _view(project) -> dict:
    td = state()
    return project_view(project, td.service.counts_many([project.id])[project.id])


@blp.route("/projects")
class Projects(MethodView):
    @gate("projects:read", sessions=True)
    @blp.arguments(ProjectListArgsSchema, location="query")
    @blp.response(200, envelope(ProjectSchema, True, OffsetPageSchema))
    def get(self, args):
        """List projects (status active, closed or all; limit 1-100; offset).
        An agent session sees its own project only."""
        td = state()
        p = caller()
        if p.kind == "session":
            found = [td.projects.get(p.project_id)]
            found = [x for x in found if args["status"] in ("all", x.status)]
            total = len(found)
            found = found[args["offset"]:args["offset"] + args["limit"]]
        else:
            found, total = td.projects.list(args["status"], args["offset"], args["limit"])
        counts = td.service.counts_many([x.id for x in found])
        return ok([project_view(x, counts[x.id]) for x in found],
                  {"total": total, "limit": args["limit"], "offset": args["offset"]})

    @gate("projects:write")
    @blp.arguments(ProjectCreateSchema)
    @blp.response(201, envelope(ProjectSchema))
    @blp.alt_response(409, description="a project with this name exists")
    def post(self, body):
        """Create a project; config defaults: 3 retries, 10-minute leases, 1-minute reaper."""
        fields = _project_fields(body)
        fields.pop("status", None)
        return ok(_view(state().projects.create(**fields)))


@blp.route("/projects/<project_id>")
class ProjectItem(MethodView):
    @gate("projects:read", sessions=True)
    @blp.response(200, envelope(ProjectSchema))
    def get(self, project_id):
        """Get a project with its config and task counts."""
        return ok(_view(readable_project(project_id)))

    @gate("projects:write")
    @blp.arguments(ProjectUpdateSchema)
    @blp.response(200, envelope(ProjectSchema))
    def put(self, body, project_id):
        """Change a project (only the fields given; config fields one by one)."""
        if not body:
            state().projects.get(_project_id(project_id))  # 404 first
            nothing_to_change()
        project = state().projects.update(_project_id(project_id), **_project_fields(body))
        return ok(_view(project))

    @gate("projects:write")
    @blp.response(200, envelope(TDMessageSchema))
    def delete(self, project_id):
        """Delete a project with its task types and tasks."""
        state().projects.delete(_project_id(project_id))
        return ok({"message": "Project deleted successfully"})


@blp.route("/projects/<project_id>/stats", methods=["GET"])
@gate("projects:read", sessions=True)
@blp.response(200, envelope(ProjectStatsSchema))
def project_stats(project_id):
    """Counts by status, queue depth, active agents and the last hour's activity."""
    project = readable_project(project_id)
    td = state()
    stats = stats_view(td.service.counts_many([project.id])[project.id])
    leases = td.projects.leases(project.id)
    last_run, next_run = td.projects.reaper_runs(project.id)
    return ok({
        "project": {"id": project.id, "name": project.name, "stats": stats},
        "queueDepth": stats["queuedTasks"],
        "activeAgents": len({x["agent"] for x in leases}),
        "recentActivity": td.service.recent(project.id),
        "reaper": {"intervalMinutes": project.reaper_minutes, "lastRunAt": ms_iso(last_run),
                   "nextRunAt": ms_iso(next_run)},
    })


@blp.route("/projects/<project_id>/task-types")
class TaskTypes(MethodView):
    @gate("projects:read", sessions=True)
    @blp.response(200, envelope(TaskTypeSchema, True))
    def get(self, project_id):
        """A project's task types, oldest first."""
        project = readable_project(project_id)
        return ok([type_view(t, project) for t in state().types.list(project.id)])

    @gate("projects:write")
    @blp.arguments(TaskTypeCreateSchema)
    @blp.response(201, envelope(TaskTypeSchema))
    @blp.alt_response(409, description="a task type with this name exists in the project")
    def post(self, body, project_id):
        """Create a task type: a template with {{variables}}, duplicate handling,
        and retries / lease length overriding the project's."""
        td = state()
        fields = {TYPE_FIELDS[k]: v for k, v in body.items()}
        tt = td.types.create(_project_id(project_id), **fields)
        return ok(type_view(tt, td.projects.get(tt.project_id)))


@blp.route("/task-types/<type_id>")
class TaskTypeItem(MethodView):
    @gate("projects:read", sessions=True)
    @blp.response(200, envelope(TaskTypeSchema))
    def get(self, type_id):
        """Get a task type."""
        td = state()
        tt = td.types.get(_project_id(type_id))
        reader(tt.project_id)
        return ok(type_view(tt, td.projects.get(tt.project_id)))

    @gate("projects:write")
    @blp.arguments(TaskTypeUpdateSchema)
    @blp.response(200, envelope(TaskTypeSchema))
    def put(self, body, type_id):
        """Change a task type (only the fields given; tasks already created keep theirs)."""
        td = state()
        if not body:
            td.types.get(_project_id(type_id))  # 404 first
            nothing_to_change()
        tt = td.types.update(_project_id(type_id), **{TYPE_FIELDS[k]: v for k, v in body.items()})
        return ok(type_view(tt, td.projects.get(tt.project_id)))

    @gate("projects:write")
    @blp.response(200, envelope(TDMessageSchema))
    @blp.alt_response(409, description="tasks of this type are queued or running")
    def delete(self, type_id):
        """Delete a task type that has no queued or running tasks."""
        state().types.delete(_project_id(type_id))
        return ok({"message": "Task type deleted successfully"})
