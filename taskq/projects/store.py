"""Projects: named engine queues with defaults for the tasks created in them
(retries, lease length) and a reaper interval. The TaskDriver dialect's
projects are these; its agents are the holders of the queue's leases.

Each project is one engine queue, ``td-<project id>`` (project ids are
UUIDs), so its tasks, counts and counters are the engine's own. The project
record is a Redis hash (taskq.keys.TaskDriverKeys); a change writes only the
fields it changes.

Reaping: leases are enforced at their expiry by the engine (a holder past it
is refused), and a claim in the queue reclaims expired leases first, so an
agent never waits for a reaper to get work. The upkeep pass :func:`reap_due`
(registered in taskq.maintenance.UPKEEP) sweeps each project's queue every
``reaper_minutes`` so that an expired lease is reclaimed (requeued, or failed
when its retries are spent) within that interval even when no agent asks for
work. The scheduler's per-second upkeep of every queue reclaims sooner; the
interval is a bound, never a delay taskq adds.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from redis.exceptions import WatchError

from .. import maintenance
from ..connection import as_taskq_client
from ..errors import Conflict, TaskNotFound, TaskqValueError
from ..keys import Keys, TaskDriverKeys
from ..queue import Queue

QUEUE_PREFIX = "td-"
"""A project's engine queue is QUEUE_PREFIX + project id."""
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
NAME_MESSAGE = "Project name can only contain letters, numbers, hyphens, and underscores"
STATUSES = ("active", "closed")
DEFAULT_MAX_RETRIES = 3
DEFAULT_LEASE_MINUTES = 10
DEFAULT_REAPER_MINUTES = 1
MAX_MINUTES = 7 * 24 * 60
"""Longest lease or reaper interval, in minutes (a week)."""
REAP_PER_TICK = 100
"""Projects the reaper pass sweeps per scheduler tick, at most."""

_NUMBERS = {"max_retries": int, "lease_minutes": float, "reaper_minutes": float}


class ProjectNotFound(TaskNotFound):
    code = "project_not_found"


class ProjectExists(Conflict):
    code = "project_exists"


def queue_name(project_id: str) -> str:
    return QUEUE_PREFIX + project_id


def project_of_queue(queue: str) -> str | None:
    """The project id owning an engine queue, or None for other queues."""
    return queue[len(QUEUE_PREFIX):] if queue.startswith(QUEUE_PREFIX) else None


def valid_id(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def redis_now_ms(client) -> int:
    """Redis's clock (taskq's only clock), in ms."""
    sec, usec = client.time()
    return int(sec) * 1000 + int(usec) // 1000


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


@dataclass
class Project:
    id: str
    name: str
    description: str | None
    instructions: str | None
    status: str
    created_ms: int
    updated_ms: int
    max_retries: int
    lease_minutes: int | float
    reaper_minutes: int | float

    @property
    def queue(self) -> str:
        return queue_name(self.id)

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> "Project":
        return cls(
            id=raw["id"], name=raw["name"], description=raw.get("description"),
            instructions=raw.get("instructions"), status=raw.get("status", "active"),
            created_ms=int(raw.get("created", 0)), updated_ms=int(raw.get("updated", 0)),
            max_retries=int(raw.get("max_retries", DEFAULT_MAX_RETRIES)),
            lease_minutes=_number(float(raw.get("lease_minutes", DEFAULT_LEASE_MINUTES))),
            reaper_minutes=_number(float(raw.get("reaper_minutes", DEFAULT_REAPER_MINUTES))))


def check_retries(label: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        raise TaskqValueError(f"{label}: must be an integer from 0 to 1000")


def check_minutes(label: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_MINUTES:
        raise TaskqValueError(f"{label}: must be a number of minutes above 0, at most {MAX_MINUTES}")


def check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate project fields (any subset); TaskqValueError names the field."""
    out = dict(fields)
    if "name" in out and (not isinstance(out["name"], str) or not NAME_RE.fullmatch(out["name"])):
        raise TaskqValueError(f"name: {NAME_MESSAGE}")
    if "status" in out and out["status"] not in STATUSES:
        raise TaskqValueError(f"status: must be one of {', '.join(STATUSES)}")
    if "max_retries" in out:
        check_retries("max_retries", out["max_retries"])
    for name in ("lease_minutes", "reaper_minutes"):
        if name in out:
            check_minutes(name, out[name])
    for name in ("description", "instructions"):
        if out.get(name) is not None and not isinstance(out[name], str):
            raise TaskqValueError(f"{name}: must be text")
    return out


class ProjectStore:
    def __init__(self, redis, prefix: str):
        """``redis``: any redis-py client (see taskq.connection)."""
        self.redis = as_taskq_client(redis)
        self.keys = Keys(prefix)
        self.tk = TaskDriverKeys(prefix)

    def queue(self, project_id: str) -> Queue:
        return Queue(queue_name(project_id), redis=self.redis, prefix=self.keys.prefix)

    # -- records -----------------------------------------------------------
    def create(self, name: str, description: str | None = None, instructions: str | None = None,
               max_retries: int = DEFAULT_MAX_RETRIES, lease_minutes: float = DEFAULT_LEASE_MINUTES,
               reaper_minutes: float = DEFAULT_REAPER_MINUTES) -> Project:
        check_fields({"name": name, "description": description, "instructions": instructions,
                      "max_retries": max_retries, "lease_minutes": lease_minutes,
                      "reaper_minutes": reaper_minutes})
        pid = str(uuid.uuid4())
        if not claim_name(self.redis, self.tk.project_names, name, pid, self.tk.project):
            raise ProjectExists(f"a project named {name!r} already exists")
        now = redis_now_ms(self.redis)
        fields = {"id": pid, "name": name, "status": "active", "created": now, "updated": now,
                  "max_retries": max_retries, "lease_minutes": repr(float(lease_minutes)),
                  "reaper_minutes": repr(float(reaper_minutes))}
        fields.update({k: v for k, v in (("description", description),
                                         ("instructions", instructions)) if v is not None})
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.tk.project(pid), mapping=fields)
        pipe.zadd(self.tk.projects, {pid: now})
        pipe.zadd(self.tk.reaper, {pid: now + int(reaper_minutes * 60_000)})
        pipe.execute()
        return self.get(pid)

    def get(self, project_id: str) -> Project:
        raw = self.redis.hgetall(self.tk.project(project_id)) if valid_id(project_id) else None
        if not raw or "name" not in raw:
            raise ProjectNotFound(f"project {project_id} not found")
        return Project.from_hash(raw)

    def list(self, status: str = "active", offset: int = 0, limit: int = 100) -> tuple[list[Project], int]:
        """Projects oldest first, with status 'active', 'closed' or 'all'."""
        ids = self.redis.zrange(self.tk.projects, 0, -1)
        pipe = self.redis.pipeline(transaction=False)
        for pid in ids:
            pipe.hgetall(self.tk.project(pid))
        found = [Project.from_hash(raw) for raw in pipe.execute() if raw and "name" in raw]
        if status != "all":
            found = [p for p in found if p.status == status]
        return found[offset:offset + limit], len(found)

    def update(self, project_id: str, **changes: Any) -> Project:
        """Change the fields given (None clears description or instructions)."""
        changes = check_fields(changes)
        key = self.tk.project(project_id)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key, self.tk.project_names)
                    old = self.get(project_id)
                    new_name = changes.get("name")
                    if new_name and new_name != old.name:
                        holder = pipe.hget(self.tk.project_names, new_name)
                        if holder and holder != project_id:
                            raise ProjectExists(f"a project named {new_name!r} already exists")
                    now = redis_now_ms(self.redis)
                    pipe.multi()
                    sets: dict[str, Any] = {"updated": max(now, old.updated_ms)}
                    for k, v in changes.items():
                        if v is None:
                            pipe.hdel(key, k)
                        else:
                            sets[k] = repr(float(v)) if _NUMBERS.get(k) is float else v
                    pipe.hset(key, mapping=sets)
                    if new_name and new_name != old.name:
                        pipe.hdel(self.tk.project_names, old.name)
                        pipe.hset(self.tk.project_names, new_name, project_id)
                    if "reaper_minutes" in changes:
                        pipe.zadd(self.tk.reaper, {project_id: now + int(changes["reaper_minutes"] * 60_000)})
                    pipe.execute()
                    break
                except WatchError:
                    continue
        return self.get(project_id)

    def delete(self, project_id: str) -> None:
        """Delete the project, its task types and every task of its queue."""
        project = self.get(project_id)
        type_ids = self.redis.zrange(self.tk.task_types(project_id), 0, -1)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.tk.project(project_id), self.tk.task_types(project_id),
                    self.tk.type_names(project_id), *[self.tk.task_type(t) for t in type_ids])
        pipe.zrem(self.tk.projects, project_id)
        pipe.zrem(self.tk.reaper, project_id)
        pipe.hdel(self.tk.reaped, project_id)
        pipe.hdel(self.tk.project_names, project.name)
        pipe.execute()
        self.queue(project_id).purge()

    # -- leases and reaping ---------------------------------------------------
    def leases(self, project_id: str, now_ms: int | None = None) -> list[dict]:
        """Live leases of the project's queue, soonest expiry first:
        {task_id, agent, leased_ms, expires_ms}."""
        q = self.queue(project_id)
        now = redis_now_ms(self.redis) if now_ms is None else now_ms
        running = self.redis.zrangebyscore(q.qkeys.running, now, "+inf", withscores=True)
        pipe = self.redis.pipeline(transaction=False)
        for tid, _ in running:
            pipe.hmget(q.qkeys.task(tid), ["worker", "leased", "status"])
        out = []
        for (tid, expires), (worker, leased, status) in zip(running, pipe.execute()):
            if status == "running" and worker:
                out.append({"task_id": tid, "agent": worker, "leased_ms": int(leased or 0),
                            "expires_ms": int(expires)})
        return out

    def held_by(self, project_id: str, agent: str, limit: int = 1,
                now_ms: int | None = None) -> list[str]:
        """Ids of tasks ``agent`` holds live leases on, soonest expiry first,
        read from the agent's own index (the engine's held_prefix + holder
        zset, kept by every script that starts or ends a lease), so the cost
        does not grow with the leases other agents hold. Each id is checked
        against its task (still running, still this agent's)."""
        q = self.queue(project_id)
        now = redis_now_ms(self.redis) if now_ms is None else now_ms
        ids = self.redis.zrangebyscore(q.qkeys.held(agent), now, "+inf", start=0, num=limit)
        pipe = self.redis.pipeline(transaction=False)
        for tid in ids:
            pipe.hmget(q.qkeys.task(tid), ["worker", "status"])
        return [tid for tid, (worker, status) in zip(ids, pipe.execute() if ids else [])
                if status == "running" and worker == agent]

    def available(self, project_id: str) -> int:
        """Tasks a claim would find now: ready ones, due retries and expired leases."""
        q = self.queue(project_id)
        now = redis_now_ms(self.redis)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(q.qkeys.meta, "paused")
        pipe.zcount(q.qkeys.queued, "-inf", "(+inf")  # parked tasks (score +inf) wait for a slot
        pipe.zcount(q.qkeys.delayed, "-inf", now)
        pipe.zcount(q.qkeys.running, "-inf", f"({now}")
        paused, *counts = pipe.execute()
        return 0 if paused == "1" else sum(counts)

    def reclaim(self, project_id: str) -> dict[str, int]:
        """Reclaim the project's expired leases now: how many tasks went back
        (requeued, or failed with no retries left) and how many distinct
        agents lost a lease."""
        q = self.queue(project_id)
        now = redis_now_ms(self.redis)
        expired = self.redis.zrangebyscore(q.qkeys.running, "-inf", f"({now}")
        holders = self._fields(q, expired, "worker")
        reaped = q.reap()
        after = self._fields(q, expired, "worker")
        lost = {h for h, a in zip(holders, after) if h and a != h}
        self.redis.hset(self.tk.reaped, project_id, now)
        return {"reclaimed": reaped["requeued"] + reaped["failed"], "agents": len(lost)}

    def reaper_runs(self, project_id: str) -> tuple[int | None, int | None]:
        """(last, next) run of the project's reaper, in ms."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(self.tk.reaped, project_id)
        pipe.zscore(self.tk.reaper, project_id)
        last, nxt = pipe.execute()
        return (int(last) if last else None), (int(nxt) if nxt else None)

    def _fields(self, q: Queue, ids: list[str], field: str) -> list[str | None]:
        pipe = self.redis.pipeline(transaction=False)
        for tid in ids:
            pipe.hget(q.qkeys.task(tid), field)
        return pipe.execute() if ids else []


def claim_name(client, names_key: str, name: str, owner: str, record_key) -> bool:
    """Take a unique name for ``owner``; a name whose holder's record is gone
    (a create that died half-way) is taken over."""
    if client.hsetnx(names_key, name, owner):
        return True
    holder = client.hget(names_key, name)
    if holder and not client.exists(record_key(holder)):
        client.hset(names_key, name, owner)
        return True
    return False


def reap_due(client, keys: Keys) -> dict[str, dict[str, int]]:
    """Upkeep pass: sweep every project whose reaper interval has come
    round, and set its next run one interval on. Returns what each reclaimed."""
    client = as_taskq_client(client)
    store = ProjectStore(client, keys.prefix)
    now = redis_now_ms(client)
    due = client.zrangebyscore(store.tk.reaper, "-inf", now, start=0, num=REAP_PER_TICK)
    out = {}
    for pid in due:
        raw = client.hmget(store.tk.project(pid), ["reaper_minutes", "name"])
        if raw[1] is None:  # deleted meanwhile
            client.zrem(store.tk.reaper, pid)
            continue
        out[pid] = store.reclaim(pid)
        interval = float(raw[0] or DEFAULT_REAPER_MINUTES) * 60_000
        client.zadd(store.tk.reaper, {pid: now + int(interval)})
    return out


if reap_due not in maintenance.UPKEEP:
    maintenance.UPKEEP.append(reap_due)
