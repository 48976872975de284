"""Workflows for the HTTP layer: handler discovery, workflow runs and their
steps, read and changed through taskq.workflows.

Handlers come only from what workers published in Redis
(taskq.workflows.catalog.published), never from this process's own
registry: the web process lists exactly what the workers can run, and a
handler it happens to import is not offered unless a worker published it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from taskq import workflows
from taskq.keys import WorkflowKeys
from taskq.workflows import Handler, Registry, WorkflowNotFound, sweep
from taskq.worker_registry import WorkerRegistry

RECENT_SAMPLE = 100
"""How many of the newest workflows the health view reads to count them by
status (their status is derived from their steps, so counting all is O(n))."""


@dataclass(frozen=True)
class Namespace:
    name: str
    description: str
    handlers: list[Handler]
    """The latest version of each handler name, by name."""


def is_workflow_id(value: str) -> bool:
    """Workflow ids are UUIDs (as engine.create makes them)."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except (ValueError, AttributeError, TypeError):
        return False


class WorkflowService:
    def __init__(self, redis, prefix: str, workers: WorkerRegistry):
        self.redis, self.prefix, self.workers = redis, prefix, workers

    # -- handlers -----------------------------------------------------------------
    def catalog(self) -> Registry:
        return workflows.published(self.redis, self.prefix)

    def namespaces(self, reg: Registry | None = None) -> dict[str, Namespace]:
        """Namespaces with at least one published handler, by name."""
        reg = self.catalog() if reg is None else reg
        latest: dict[tuple[str, str], Handler] = {}
        for h in reg.handlers():  # sorted by namespace, name, version: the last wins
            latest[(h.namespace, h.name)] = h
        out: dict[str, Namespace] = {}
        for (ns, _), h in latest.items():
            if ns not in out:
                out[ns] = Namespace(ns, reg.namespaces.get(ns, ""), [])
            out[ns].handlers.append(h)
        return out

    def handler(self, namespace: str, name: str, version: str | None = None,
                reg: Registry | None = None) -> Handler | None:
        reg = self.catalog() if reg is None else reg
        return reg.get(namespace, name, version)

    def versions(self, namespace: str, name: str, reg: Registry | None = None) -> list[str]:
        return (self.catalog() if reg is None else reg).versions(namespace, name)

    # -- workflows -----------------------------------------------------------------
    def create(self, handler: Handler, context: dict) -> dict:
        return workflows.create(self.redis, handler, context=context, prefix=self.prefix)

    def get(self, workflow_id: str) -> dict:
        """The workflow; WorkflowNotFound for an id that is not one (without
        asking Redis when it is not even a UUID)."""
        if not is_workflow_id(workflow_id):
            raise WorkflowNotFound(f"workflow {workflow_id!r} not found")
        return workflows.get(self.redis, workflow_id.lower(), prefix=self.prefix)

    def removed(self, workflow_id: str) -> dict | None:
        """How a workflow the sweep pruned ended (its tombstone), else None."""
        if not is_workflow_id(workflow_id):
            return None
        return sweep.removed(self.redis, WorkflowKeys(self.prefix), workflow_id.lower())

    def list(self, *, namespace: str | None, name: str | None, version: str | None,
             status: str | None, page: int, per_page: int) -> tuple[list[dict], int]:
        return workflows.list_workflows(
            self.redis, namespace=namespace, name=name, version=version, status=status,
            offset=(page - 1) * per_page, limit=per_page, prefix=self.prefix)

    def update_step(self, workflow_id: str, step: str, **changes) -> dict:
        wf = self.get(workflow_id)
        return workflows.update_step(self.redis, wf["id"], step, prefix=self.prefix, **changes)

    def cancel_step(self, workflow_id: str, step: str, force: bool = False) -> dict:
        wf = self.get(workflow_id)
        return workflows.cancel_step(self.redis, wf["id"], step, force=force, prefix=self.prefix)

    # -- health ----------------------------------------------------------------------
    def redis_check(self) -> dict:
        """Does Redis answer, and how fast (never raises)."""
        started = time.monotonic()
        try:
            self.redis.ping()
        except Exception as exc:  # any failure to reach it means not ready
            return {"status": "unhealthy", "error": type(exc).__name__}
        return {"status": "healthy", "response_time_ms": round((time.monotonic() - started) * 1000, 2)}

    def status(self) -> dict:
        """Redis, workers, handlers and workflows, for /tasker/health/status."""
        redis = self.redis_check()
        if redis["status"] != "healthy":
            return {"status": "unhealthy", "redis": redis}
        info = self.redis.info("server")
        redis.update(version=info.get("redis_version"))
        online = [w for w in self.workers.all() if w.status != "offline"]
        serving = [w for w in online if workflows.WORKFLOW_QUEUE in w.queues]
        reg = self.catalog()
        namespaces = self.namespaces(reg)
        total = self.redis.zcard(WorkflowKeys(self.prefix).index)
        recent, _ = workflows.list_workflows(self.redis, limit=RECENT_SAMPLE, prefix=self.prefix)
        by_status = dict.fromkeys(workflows.WORKFLOW_STATUSES, 0)
        for wf in recent:
            by_status[wf["status"]] += 1
        handlers = reg.handlers()
        degraded = not serving or not handlers or bool(reg.skipped)
        return {
            "status": "degraded" if degraded else "healthy",
            "redis": redis,
            "workers": {"online": len(online), "serving_workflows": len(serving),
                        "queue": workflows.WORKFLOW_QUEUE},
            "handlers": {"published": len(handlers), "namespaces": len(namespaces),
                         "invalid": len(reg.skipped)},
            "workflows": {"total": total, "by_status": workflows.count_by_status(self.redis, self.prefix),
                          "recent": len(recent), "recent_by_status": by_status},
        }
