"""TaskDriver tasks over the engine: create (one or a batch, one round trip),
list with the document's filters, change, and project stats.

A task's TaskDriver fields live in its meta; its type and batch are also
engine tags (``type:<id>``, ``batch:<id>``), so those filters read an index.
Every task gets its type's (else its project's) max_retries and lease
length, and a fixed zero backoff: a failed attempt that may retry is queued
again at once, as the document says.
"""

from __future__ import annotations

import uuid
from typing import Any

from collections.abc import Sequence

from taskq import Queue, Task
from taskq.monitoring import series
from taskq.errors import Conflict, InvalidState, TaskExists
from taskq.keys import STATUSES
from taskq.options import build_spec
from taskq.projects.store import Project, ProjectStore, project_of_queue, queue_name, redis_now_ms
from taskq.projects.task_types import TaskType, TaskTypeStore, batch_tag, render, type_tag

from ..errors import validation_error
from . import listing
from .tasks import TaskService

SCALARS = (str, int, float, bool)
LAST_HOUR_MINUTES = 60


def _problem(prefix: str, field: str, message: str, value: Any = None) -> dict:
    return {"field": prefix + field, "message": message,
            "value": value if isinstance(value, (str, int, float, bool, type(None))) else None}


def check_variables(variables: Any, prefix: str = "") -> list[dict]:
    bad = [k for k, v in (variables or {}).items() if v is not None and not isinstance(v, SCALARS)]
    return [_problem(prefix, f"variables.{k}", "must be text, a number or a boolean") for k in bad]


class ProjectTaskService:
    """A TaskDriver project's tasks, on the app's one TaskService (whose
    cached Queue objects skip the queue-registry SADD after a queue's first
    enqueue), ProjectStore and TaskTypeStore."""

    def __init__(self, tasks: TaskService, projects: ProjectStore, types: TaskTypeStore):
        self.redis, self.tasks, self.projects, self.types = tasks.redis, tasks, projects, types

    def queue(self, project_id: str) -> Queue:
        return self.tasks.queue(queue_name(project_id))

    # -- creating ---------------------------------------------------------------
    def _spec(self, project: Project, tt: TaskType | None, item: dict, batch_id: str | None,
              prefix: str, problems: list[dict]) -> dict | None:
        if tt is None or tt.project_id != project.id:
            problems.append(_problem(prefix, "typeId", "no such task type in this project", item.get("typeId")))
            return None
        variables = {k: v for k, v in (item.get("variables") or {}).items() if v is not None}
        found = check_variables(variables, prefix)
        for name in tt.required:
            if variables.get(name) in (None, ""):
                found.append(_problem(prefix, f"variables.{name}", "required by the task type"))
        if tt.template:
            instructions = render(tt.template, variables)
        elif item.get("instructions"):
            instructions = render(item["instructions"], variables)
        else:
            found.append(_problem(prefix, "instructions", "required: the task type has no template"))
        problems += found
        if found:
            return None
        batch = item.get("batchId") or batch_id
        meta = {"name": tt.name, "projectId": project.id, "typeId": tt.id,
                "instructions": instructions, "variables": variables}
        if batch:
            meta["batchId"] = batch
        return {"func": None, "meta": meta, "max_retries": tt.retries_for(project),
                "lease": float(tt.lease_for(project)) * 60, "backoff": "fixed", "backoff_base": 0,
                "tags": [type_tag(tt.id)] + ([batch_tag(batch)] if batch else []),
                "dedupe_key": tt.dedupe_key(variables), "priority": item.get("priority", 0)}

    def _active(self, project_id: str) -> Project:
        project = self.projects.get(project_id)
        if project.status != "active":
            raise InvalidState(f"project {project_id} is closed", status="closed")
        return project

    def create(self, project_id: str, item: dict) -> tuple[Task, bool]:
        """One task; (task, created). A duplicate of an unfinished task of a
        type with duplicateHandling 'ignore' returns that task (created False);
        with 'fail' it raises TaskExists."""
        project = self._active(project_id)
        tt = self.types.get_many([item["typeId"]]).get(item["typeId"])
        problems: list[dict] = []
        spec = self._spec(project, tt, item, None, "", problems)
        if problems:
            raise validation_error(problems)
        q = self.queue(project_id)
        built = build_spec(q.name, **spec)
        task = q.enqueue_specs([built])[0]
        if task.id != built.id and tt.duplicate_handling == "fail":
            raise TaskExists(f"a task of type {tt.name!r} with these variables exists: {task.id}")
        return task, task.id == built.id

    def create_bulk(self, project_id: str, items: list[dict], batch_id: str | None) -> dict:
        """Many tasks, all validated before any is sent, sent in one round trip."""
        project = self._active(project_id)
        batch_id = batch_id or str(uuid.uuid4())
        types = self.types.get_many([i["typeId"] for i in items])
        problems: list[dict] = []
        specs = [self._spec(project, types.get(i["typeId"]), i, batch_id, f"tasks.{n}.", problems)
                 for n, i in enumerate(items)]
        if problems:
            raise validation_error(problems)
        q = self.queue(project_id)
        self._refuse_duplicates(q, specs, types)
        built = [build_spec(q.name, **s) for s in specs]
        tasks = q.enqueue_specs(built)
        created = [t for t, b in zip(tasks, built) if t.id == b.id]
        errors = [f"tasks.{n}: duplicate of {t.id}" for n, (t, b, s) in enumerate(zip(tasks, built, specs))
                  if t.id != b.id and types[s["meta"]["typeId"]].duplicate_handling == "fail"]
        return {"batchId": batch_id, "tasksCreated": len(created),
                "duplicatesSkipped": len(tasks) - len(created) - len(errors),
                "errors": errors, "tasks": created}

    def _refuse_duplicates(self, q: Queue, specs: list[dict], types: dict[str, TaskType]) -> None:
        """Types with duplicateHandling 'fail': refuse the batch before
        sending it when a task duplicates another of it or an unfinished one."""
        keyed = [(n, s["dedupe_key"]) for n, s in enumerate(specs)
                 if s["dedupe_key"] and types[s["meta"]["typeId"]].duplicate_handling == "fail"]
        if not keyed:
            return
        seen: dict[str, int] = {}
        clashes = []
        for n, key in keyed:
            if key in seen:
                clashes.append(f"tasks.{n} duplicates tasks.{seen[key]}")
            seen.setdefault(key, n)
        holders = self.redis.mget([q.qkeys.dedupe_prefix + k for _, k in keyed])
        pipe = self.redis.pipeline(transaction=False)
        for h in holders:
            pipe.exists(q.qkeys.task(h) if h else q.qkeys.task("-"))
        for (n, _), h, alive in zip(keyed, holders, pipe.execute()):
            if h and alive:
                clashes.append(f"tasks.{n} duplicates {h}")
        if clashes:
            raise TaskExists("duplicate tasks: " + "; ".join(clashes[:20]))

    # -- listing ----------------------------------------------------------------
    def list(self, project_id: str, statuses: Sequence[str] = (), assigned_to: str | None = None,
             batch_id: str | None = None, type_id: str | None = None, offset: int = 0,
             limit: int = 100) -> tuple[list[Task], int]:
        """Newest first (creation order, ties by id); ``statuses`` are engine
        statuses (any of them matches). No filter, one status,
        one batch or one type page in Redis with exact totals from the
        indexes; an agent, or a filter within another, walks the candidate
        index to count (api.services.listing.WALK_CAP at most)."""
        self.projects.get(project_id)
        q = self.queue(project_id)
        statuses = list(statuses)
        tags = [t for t in (batch_id and batch_tag(batch_id), type_id and type_tag(type_id)) if t]
        ids, total = listing.creation_page(q, statuses, tags, assigned_to, True, offset, limit)
        return q.get_many(ids), total

    # -- changing -----------------------------------------------------------------
    def meta_changes(self, task: Task, body: dict, meta: dict | None = None) -> dict:
        """PUT /api/tasks/{id} with instructions / variables: the meta to merge
        into ``meta`` (the task's current meta: Queue.update passes the one it
        merges into, so concurrent PUTs lose no variable). New variables merge
        into the old (a null removes one); a type with a template renders the
        instructions again."""
        if not ({"instructions", "variables"} & set(body)):
            return {}
        if project_of_queue(task.queue) is None:
            raise Conflict(f"task {task.id} is not a TaskDriver task: instructions and variables "
                           "belong to a project's tasks", status="not_taskdriver")
        if meta is None:
            meta = task.meta
        meta = meta if isinstance(meta, dict) else {}
        variables = dict(meta.get("variables") or {})
        for k, v in (body.get("variables") or {}).items():
            if v is None:
                variables.pop(k, None)
            else:
                variables[k] = v
        problems = check_variables(variables)
        tt = self.types.get_many([meta.get("typeId") or ""]).get(meta.get("typeId") or "")
        for name in (tt.required if tt else []):
            if variables.get(name) in (None, ""):
                problems.append(_problem("", f"variables.{name}", "required by the task type"))
        if problems:
            raise validation_error(problems)
        changes = {"variables": variables}
        if body.get("instructions"):
            changes["instructions"] = render(body["instructions"], variables)
        elif tt and tt.template:
            changes["instructions"] = render(tt.template, variables)
        return changes

    # -- stats --------------------------------------------------------------------
    def counts_many(self, project_ids: list[str]) -> dict[str, dict[str, int]]:
        """Engine counts per status of many projects, one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for pid in project_ids:
            qk = self.queue(pid).qkeys
            for s in STATUSES:
                pipe.zcard(qk.status_index(s))
        replies = pipe.execute() if project_ids else []
        n = len(STATUSES)
        return {pid: dict(zip(STATUSES, replies[i * n:(i + 1) * n])) for i, pid in enumerate(project_ids)}

    def recent(self, project_id: str) -> dict:
        """The last hour from the engine's per-minute counters."""
        minute = redis_now_ms(self.redis) // 60_000
        counts = series.read(self.redis, [self.queue(project_id).qkeys.series], series.MINUTE,
                             range(minute - LAST_HOUR_MINUTES + 1, minute + 1),
                             ("completed", "failed", series.RUNTIME))
        done = counts.total("completed")
        return {"tasksCompletedLastHour": done, "tasksFailedLastHour": counts.total("failed"),
                "averageTaskDuration": round(counts.total(series.RUNTIME) / done / 1000, 3) if done else 0.0}
