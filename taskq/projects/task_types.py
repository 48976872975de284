"""Task types: templates of a project's tasks.

A type's ``template`` has ``{{variable}}`` placeholders; a task of the type
gives values for them and its instructions are the rendered template. The
variables a type declares (and those its template names) are required of
every task. ``duplicate_handling`` says what creating a task whose type and
variables equal an unfinished task's does: ``allow`` another, ``ignore`` (the
existing task is returned) or ``fail``; it rides on the engine's dedupe key,
so the check is atomic with the enqueue. A type's max_retries and
lease_minutes, when set, override its project's defaults.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.exceptions import WatchError

from ..connection import as_taskq_client
from ..errors import Conflict, TaskNotFound, TaskqValueError
from ..keys import TaskDriverKeys
from .store import (NAME_RE, Project, ProjectStore, check_minutes, check_retries,
                       claim_name, redis_now_ms, valid_id)

DUPLICATE_HANDLING = ("allow", "ignore", "fail")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
VARIABLE_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")
TYPE_NAME_MESSAGE = "Task type name can only contain letters, numbers, hyphens, and underscores"
MAX_TEMPLATE = 64 * 1024
MAX_VARIABLES = 100


class TaskTypeNotFound(TaskNotFound):
    code = "task_type_not_found"


class TaskTypeExists(Conflict):
    code = "task_type_exists"


def placeholders(template: str | None) -> list[str]:
    return list(dict.fromkeys(PLACEHOLDER.findall(template or "")))


def render(text: str, variables: dict[str, Any]) -> str:
    """Replace each ``{{name}}`` that has a value; unknown names stay as they are."""
    def value(m: re.Match) -> str:
        v = variables.get(m.group(1))
        if v is None:
            return m.group(0)
        return v if isinstance(v, str) else json.dumps(v)
    return PLACEHOLDER.sub(value, text)


@dataclass
class TaskType:
    id: str
    project_id: str
    name: str
    template: str | None = None
    variables: list[str] = field(default_factory=list)
    duplicate_handling: str = "allow"
    max_retries: int | None = None
    lease_minutes: int | float | None = None
    created_ms: int = 0
    updated_ms: int = 0

    @property
    def required(self) -> list[str]:
        """Variables every task of this type must give."""
        return list(dict.fromkeys(self.variables + placeholders(self.template)))

    def retries_for(self, project: Project) -> int:
        return project.max_retries if self.max_retries is None else self.max_retries

    def lease_for(self, project: Project) -> int | float:
        return project.lease_minutes if self.lease_minutes is None else self.lease_minutes

    def dedupe_key(self, variables: dict[str, Any]) -> str | None:
        """The engine dedupe key of a task with these variables (None: allow)."""
        if self.duplicate_handling == "allow":
            return None
        text = json.dumps(variables, sort_keys=True, separators=(",", ":"), default=str)
        return f"td-type:{self.id}:{hashlib.sha256(text.encode()).hexdigest()}"


def check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "name" in out and (not isinstance(out["name"], str) or not NAME_RE.fullmatch(out["name"])):
        raise TaskqValueError(f"name: {TYPE_NAME_MESSAGE}")
    if out.get("template") is not None and (
            not isinstance(out["template"], str) or len(out["template"]) > MAX_TEMPLATE):
        raise TaskqValueError(f"template: must be text of at most {MAX_TEMPLATE} characters")
    if "variables" in out:
        v = out["variables"] or []
        if (not isinstance(v, list) or len(v) > MAX_VARIABLES
                or not all(isinstance(x, str) and VARIABLE_RE.fullmatch(x) for x in v)):
            raise TaskqValueError(f"variables: must be a list of at most {MAX_VARIABLES} names "
                                  "of letters, digits, '_', '.', '-'")
        out["variables"] = list(dict.fromkeys(v))
    if "duplicate_handling" in out and out["duplicate_handling"] not in DUPLICATE_HANDLING:
        raise TaskqValueError(f"duplicateHandling: must be one of {', '.join(DUPLICATE_HANDLING)}")
    if out.get("max_retries") is not None:
        check_retries("maxRetries", out["max_retries"])
    if out.get("lease_minutes") is not None:
        check_minutes("leaseDurationMinutes", out["lease_minutes"])
    return out


class TaskTypeStore:
    def __init__(self, redis, prefix: str):
        """``redis``: any redis-py client (see taskq.connection)."""
        self.redis = as_taskq_client(redis)
        self.tk = TaskDriverKeys(prefix)
        self.projects = ProjectStore(self.redis, prefix)

    def create(self, project_id: str, name: str, **fields: Any) -> TaskType:
        self.projects.get(project_id)
        fields = check_fields({"name": name, **fields})
        tid = str(uuid.uuid4())
        if not claim_name(self.redis, self.tk.type_names(project_id), name, tid, self.tk.task_type):
            raise TaskTypeExists(f"a task type named {name!r} already exists in this project")
        now = redis_now_ms(self.redis)
        tt = TaskType(id=tid, project_id=project_id, created_ms=now, updated_ms=now, **fields)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.tk.task_type(tid), json.dumps(asdict(tt)))
        pipe.zadd(self.tk.task_types(project_id), {tid: now})
        pipe.execute()
        return tt

    def get(self, type_id: str) -> TaskType:
        raw = self.redis.get(self.tk.task_type(type_id)) if valid_id(type_id) else None
        if not raw:
            raise TaskTypeNotFound(f"task type {type_id} not found")
        return TaskType(**json.loads(raw))

    def get_many(self, type_ids: list[str]) -> dict[str, TaskType]:
        ids = [t for t in dict.fromkeys(type_ids) if valid_id(t)]
        raws = self.redis.mget([self.tk.task_type(t) for t in ids]) if ids else []
        return {t: TaskType(**json.loads(raw)) for t, raw in zip(ids, raws) if raw}

    def list(self, project_id: str) -> list[TaskType]:
        self.projects.get(project_id)
        ids = self.redis.zrange(self.tk.task_types(project_id), 0, -1)
        found = self.get_many(ids)
        return [found[t] for t in ids if t in found]

    def update(self, type_id: str, **changes: Any) -> TaskType:
        changes = check_fields(changes)
        key = self.tk.task_type(type_id)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    tt = self.get(type_id)
                    names = self.tk.type_names(tt.project_id)
                    new_name = changes.get("name")
                    renamed = new_name is not None and new_name != tt.name
                    if renamed and pipe.hget(names, new_name) not in (None, type_id):
                        raise TaskTypeExists(f"a task type named {new_name!r} already exists in this project")
                    old_name = tt.name
                    for k, v in changes.items():
                        setattr(tt, k, v)
                    tt.updated_ms = max(redis_now_ms(self.redis), tt.updated_ms)
                    pipe.multi()
                    pipe.set(key, json.dumps(asdict(tt)))
                    if renamed:
                        pipe.hdel(names, old_name)
                        pipe.hset(names, new_name, type_id)
                    pipe.execute()
                    return tt
                except WatchError:
                    continue

    def delete(self, type_id: str) -> None:
        """Delete a type; refused (Conflict) while tasks of it are queued or running."""
        tt = self.get(type_id)
        q = self.projects.queue(tt.project_id)
        ids = self.redis.zrange(q.qkeys.tag(type_tag(type_id)), 0, -1)
        pipe = self.redis.pipeline(transaction=False)
        for t in ids:
            pipe.hget(q.qkeys.task(t), "status")
        busy = sum(1 for s in (pipe.execute() if ids else [])
                   if s in ("queued", "delayed", "blocked", "running"))
        if busy:
            raise Conflict(f"task type {type_id} has {busy} unfinished task(s)", status="busy")
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.tk.task_type(type_id))
        pipe.zrem(self.tk.task_types(tt.project_id), type_id)
        pipe.hdel(self.tk.type_names(tt.project_id), tt.name)
        pipe.execute()


def type_tag(type_id: str) -> str:
    """The engine tag every task of a type carries (the type filter's index)."""
    return f"type:{type_id}"


def batch_tag(batch_id: str) -> str:
    """The engine tag every task of a batch carries (the batch filter's index)."""
    return f"batch:{batch_id}"
