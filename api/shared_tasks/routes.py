"""/api/tasks/{id}: one engine task, whichever dialect created it (its id
names its queue). It answers the union of the DTS and TaskDriver fields, as
the DTS create call does, so one task reads the same on every route that
answers one task. On a TaskDriver project's task, projects:read /
projects:write also allow it; agent sessions are refused."""

from __future__ import annotations

from functools import wraps

from flask.views import MethodView

from taskq.projects.store import QUEUE_PREFIX

from ..auth import SECURITY, authenticated
from ..blueprint import Blueprint
from ..envelope import ok
from ..errors import ApiError
from ..schemas import envelope
from ..app_state import state
from .schemas import DeleteArgsSchema, MessageSchema, UnionTaskSchema, UnionTaskUpdateSchema
from .serializers import engine_options, union_response

blp = Blueprint("Task", __name__, description="One task by id, in the fields of both dialects on /api")


def shared_scope(dts_scope: str, td_scope: str):
    """``dts_scope`` for any task, or ``td_scope`` for a TaskDriver project's
    task (its id names its queue, td-<project id>). Sessions are refused."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            p = authenticated()
            task_id = str(kwargs.get("task_id", ""))
            if p.allows(dts_scope) or (task_id.startswith(QUEUE_PREFIX) and p.allows(td_scope)):
                return view(*args, **kwargs)
            if p.kind == "session":
                raise ApiError(403, "forbidden", "an agent session may only use its own project and tasks")
            raise ApiError(403, "insufficient_scope", f"this call needs scope {dts_scope!r}",
                           {"required_scope": dts_scope})
        wrapper.required_scope = dts_scope
        return Blueprint.doc(security=SECURITY, responses={
            "401": "UNAUTHORIZED", "403": "FORBIDDEN", "429": "TOO_MANY_REQUESTS"})(wrapper)
    return decorator


@blp.route("/tasks/<task_id>")
class TaskItem(MethodView):
    @shared_scope("tasks:read", "projects:read")
    @blp.response(200, envelope(UnionTaskSchema))
    def get(self, task_id):
        """Get one task: the DTS and TaskDriver fields (status, result and
        error in the words of the task's own dialect)."""
        return union_response(state().tasks.get(task_id))

    @shared_scope("tasks:write", "projects:write")
    @blp.arguments(UnionTaskUpdateSchema)
    @blp.response(200, envelope(UnionTaskSchema))
    def put(self, body, task_id):
        """Change a task that has not started (only the fields given): DTS
        fields, or a TaskDriver task's instructions and variables."""
        st = state()
        options = engine_options(body)
        task = st.tasks.get(task_id)
        if st.project_tasks.meta_changes(task, body):  # checked now, before any write
            dts_meta = options.get("meta", {})
            # merged again into the meta the engine's compare-and-set reads
            options["meta"] = lambda current: {
                **dts_meta, **st.project_tasks.meta_changes(task, body, current)}
        return union_response(st.tasks.update(task_id, **options))

    @shared_scope("tasks:write", "projects:write")
    @blp.arguments(DeleteArgsSchema, location="query")
    @blp.response(200, envelope(MessageSchema))
    def delete(self, args, task_id):
        """Delete a task (a running one only with force=true)."""
        state().tasks.delete(task_id, force=args["force"])
        return ok({"success": True, "message": "Task deleted successfully"})
