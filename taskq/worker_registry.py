"""The worker registry: who is working, on what, and how they are doing.

Every worker process registers once and heartbeats every few seconds with
its status, the task ids it holds, counters and resource use. A worker that
misses its heartbeat TTL reads as ``offline`` (the scheduler then records a
``worker.offline`` event, once); its entry drops out after FORGET_AFTER.

This is bookkeeping about processes, not task state: plain commands in one
pipeline suffice (task state lives only in the queue scripts).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from .connection import as_taskq_client
from .keys import Keys

HEARTBEAT_INTERVAL = 5.0
"""Seconds between a worker's registry heartbeats."""
HEARTBEAT_TTL = 30.0
"""A worker silent this long reads as offline."""
FORGET_AFTER = 600.0
"""An offline worker's entry is removed this long after its last heartbeat."""
EVENTS_MAXLEN = 10_000
"""Entries kept in the global event stream (worker events)."""
STATUSES = ("active", "idle", "offline")


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(2).hex()}"


def _now_ms() -> int:
    return int(time.time() * 1000)


def resource_usage() -> dict[str, float]:
    """CPU, memory and disk use of this machine, as fractions of 1."""
    try:
        import psutil

        cpu = psutil.cpu_percent(interval=None) / 100
        mem = psutil.virtual_memory().percent / 100
    except Exception:  # pragma: no cover - psutil is a dependency; be defensive
        cpu = min(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
        mem = 0.0
    disk = shutil.disk_usage(os.getcwd())
    return {"cpu_usage": round(cpu, 4), "memory_usage": round(mem, 4),
            "disk_usage": round(disk.used / disk.total, 4) if disk.total else 0.0}


@dataclass
class WorkerInfo:
    id: str
    hostname: str
    pid: int
    queues: list[str]
    status: str
    tasks_completed: int = 0
    tasks_failed: int = 0
    current_task_ids: list[str] = field(default_factory=list)
    last_heartbeat: float | None = None  # epoch seconds
    registered_at: float | None = None
    version: str = ""
    tags: list[str] = field(default_factory=list)
    resources: dict[str, float] = field(default_factory=dict)
    kind: str = "worker"

    @property
    def current_tasks(self) -> int:
        return len(self.current_task_ids)

    @classmethod
    def from_hash(cls, worker_id: str, h: dict[str, str], now_ms: int) -> "WorkerInfo":
        last = int(h.get("last_heartbeat", 0))
        status = h.get("status", "idle")
        if now_ms - last > HEARTBEAT_TTL * 1000:
            status = "offline"
        return cls(
            id=worker_id, hostname=h.get("hostname", ""), pid=int(h.get("pid", 0)),
            queues=json.loads(h.get("queues", "[]")), status=status,
            tasks_completed=int(h.get("tasks_completed", 0)),
            tasks_failed=int(h.get("tasks_failed", 0)),
            current_task_ids=json.loads(h.get("current", "[]")) if status != "offline" else [],
            last_heartbeat=last / 1000 if last else None,
            registered_at=int(h.get("registered_at", 0)) / 1000 or None,
            version=h.get("version", ""), tags=json.loads(h.get("tags", "[]")),
            resources=json.loads(h.get("resources", "{}")), kind=h.get("kind", "worker"),
        )


class WorkerRegistry:
    def __init__(self, client, keys: Keys | None = None):
        """``client``: any redis-py client (see taskq.connection)."""
        self.redis = as_taskq_client(client)
        self.keys = keys or Keys()

    def register(self, worker_id: str, queues: list[str], tags: list[str] | None = None,
                 version: str = "", kind: str = "worker") -> None:
        now = _now_ms()
        key = self.keys.worker(worker_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(key)
        pipe.hset(key, mapping={
            "hostname": socket.gethostname(), "pid": os.getpid(),
            "queues": json.dumps(list(queues)), "status": "idle",
            "tasks_completed": 0, "tasks_failed": 0, "current": "[]",
            "registered_at": now, "last_heartbeat": now, "version": version,
            "tags": json.dumps(list(tags or [])), "kind": kind,
            "resources": json.dumps(resource_usage()),
        })
        pipe.pexpire(key, int(FORGET_AFTER * 1000))
        pipe.zadd(self.keys.workers, {worker_id: now})
        pipe.xadd(self.keys.events, {"event": "worker.registered", "id": worker_id},
                  maxlen=EVENTS_MAXLEN, approximate=True)
        pipe.execute()

    def heartbeat(self, worker_id: str, current: list[str], completed: int = 0, failed: int = 0,
                  resources: dict[str, float] | None = None) -> None:
        """Report liveness, what the worker holds now, and counters since the
        last heartbeat (added to the totals)."""
        now = _now_ms()
        key = self.keys.worker(worker_id)
        mapping: dict[str, Any] = {"last_heartbeat": now, "current": json.dumps(list(current)),
                                   "status": "active" if current else "idle"}
        if resources is not None:
            mapping["resources"] = json.dumps(resources)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, mapping=mapping)
        pipe.hdel(key, "offline_reported")
        if completed:
            pipe.hincrby(key, "tasks_completed", completed)
        if failed:
            pipe.hincrby(key, "tasks_failed", failed)
        pipe.pexpire(key, int(FORGET_AFTER * 1000))
        pipe.zadd(self.keys.workers, {worker_id: now})
        pipe.execute()

    def deregister(self, worker_id: str) -> None:
        """A clean exit: the worker reads as offline at once."""
        key = self.keys.worker(worker_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(key, mapping={"status": "offline", "current": "[]", "last_heartbeat": 0,
                                "offline_reported": 1})
        # HSET recreates an entry that had already expired (a worker silent
        # past FORGET_AFTER that exits): without a TTL it would stay forever.
        pipe.pexpire(key, int(FORGET_AFTER * 1000))
        pipe.zadd(self.keys.workers, {worker_id: _now_ms()})
        pipe.xadd(self.keys.events, {"event": "worker.offline", "id": worker_id},
                  maxlen=EVENTS_MAXLEN, approximate=True)
        pipe.execute()

    def get(self, worker_id: str) -> WorkerInfo | None:
        h = self.redis.hgetall(self.keys.worker(worker_id))
        if not h:
            return None
        return WorkerInfo.from_hash(worker_id, _decode(h), _now_ms())

    def all(self, status: str | None = None) -> list[WorkerInfo]:
        """Known workers, most recently heard from first. Entries last heard
        from more than FORGET_AFTER ago are left out, as :meth:`sweep` would
        remove them: every view drops a stopped worker on time even when no
        scheduler sweeps, or an entry lost its TTL."""
        since = _now_ms() - int(FORGET_AFTER * 1000)
        ids = [_s(x) for x in self.redis.zrevrangebyscore(self.keys.workers, "+inf", f"({since}")]
        pipe = self.redis.pipeline(transaction=False)
        for wid in ids:
            pipe.hgetall(self.keys.worker(wid))
        now = _now_ms()
        out = [WorkerInfo.from_hash(wid, _decode(h), now)
               for wid, h in zip(ids, pipe.execute()) if h]
        return [w for w in out if status is None or w.status == status]

    def sweep(self) -> list[str]:
        """Record ``worker.offline`` once for each newly silent worker and
        forget entries past FORGET_AFTER; returns the newly offline ids.
        Run by the scheduler."""
        now = _now_ms()
        forget = self.redis.zrangebyscore(self.keys.workers, 0, now - FORGET_AFTER * 1000)
        if forget:
            pipe = self.redis.pipeline(transaction=False)
            for wid in forget:
                pipe.delete(self.keys.worker(_s(wid)))
            pipe.zrem(self.keys.workers, *forget)
            pipe.execute()
        silent = [_s(x) for x in self.redis.zrangebyscore(
            self.keys.workers, "(0", now - HEARTBEAT_TTL * 1000)]
        newly = []
        for wid in silent:
            # HSETNX makes the report happen once even with several schedulers.
            if self.redis.hsetnx(self.keys.worker(wid), "offline_reported", 1):
                self.redis.hset(self.keys.worker(wid), "status", "offline")
                self.redis.xadd(self.keys.events, {"event": "worker.offline", "id": wid},
                                maxlen=EVENTS_MAXLEN, approximate=True)
                newly.append(wid)
        return newly


def _s(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


def _decode(h: dict) -> dict[str, str]:
    return {_s(k): _s(v) for k, v in h.items()}
