"""The Task: a read-only snapshot of one task's hash, with typed fields.

Hash fields are stored only when they differ from a default (memory per
queued task matters); this module is where the defaults are applied on read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .keys import queue_of


def _s(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def decode_hash(raw: Any) -> dict[str, str]:
    """A hash as str -> str, from HGETALL's dict or Lua's flat list."""
    if isinstance(raw, dict):
        return {_s(k): _s(v) for k, v in raw.items()}
    it = iter(raw)
    return {_s(k): _s(v) for k, v in zip(it, it)}


def ms_to_dt(ms: Any) -> datetime | None:
    if ms in (None, ""):
        return None
    return datetime.fromtimestamp(int(float(ms)) / 1000, tz=timezone.utc)


def dt_to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def _json(value: str | None, default: Any = None) -> Any:
    if value is None:
        return default
    try:
        return json.loads(value)
    except ValueError:
        return value


@dataclass(frozen=True)
class Task:
    id: str
    status: str
    func: str | None = None
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    priority: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    leased_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    max_retries: int = 0
    retries: int = 0
    timeout: float | None = None
    backoff: str = "exponential_jitter"
    backoff_base: float = 1.0
    tags: list = field(default_factory=list)
    dependencies: list = field(default_factory=list)
    dependency_policy: str = "fail"
    dedupe_key: str | None = None
    concurrency_key: str | None = None
    concurrency_limit: int | None = None
    lease_seconds: float | None = None
    worker: str | None = None
    lease_expires_at: datetime | None = None
    cancel_requested: bool = False
    result: Any = None
    error: str | None = None
    checkpoint: Any = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def queue(self) -> str:
        return queue_of(self.id)

    @classmethod
    def from_hash(cls, task_id: str, raw: Any) -> "Task":
        h = decode_hash(raw)
        num = lambda k, d=0: int(float(h[k])) if k in h else d  # noqa: E731
        return cls(
            id=task_id,
            status=h.get("status", "unknown"),
            func=h.get("func"),
            args=_json(h.get("args"), []),
            kwargs=_json(h.get("kwargs"), {}),
            meta=_json(h.get("meta"), {}),
            priority=num("priority"),
            created_at=ms_to_dt(h.get("created")),
            updated_at=ms_to_dt(h.get("updated")),
            scheduled_at=ms_to_dt(h.get("scheduled")),
            started_at=ms_to_dt(h.get("started")),
            leased_at=ms_to_dt(h.get("leased")),
            finished_at=ms_to_dt(h.get("finished")),
            attempts=num("attempts"),
            max_retries=num("max_retries"),
            retries=num("retries"),
            timeout=float(h["timeout"]) if "timeout" in h else None,
            backoff=h.get("backoff", "exponential_jitter"),
            backoff_base=num("backoff_base", 1000) / 1000,
            tags=_json(h.get("tags"), []),
            dependencies=_json(h.get("deps"), []),
            dependency_policy=h.get("dep_policy", "fail"),
            dedupe_key=h.get("dedupe"),
            concurrency_key=h.get("ckey"),
            concurrency_limit=num("climit", 1) if "ckey" in h else None,
            lease_seconds=num("lease_ms") / 1000 if "lease_ms" in h else None,
            worker=h.get("worker"),
            lease_expires_at=ms_to_dt(h.get("expires")),
            cancel_requested=h.get("cancel") == "1",
            result=_json(h.get("result")),
            error=h.get("error"),
            checkpoint=_json(h.get("checkpoint")),
            raw=h,
        )
