"""The Task: a read-only snapshot of one task's hash, with typed fields.

Hash fields are stored only when they differ from a default (memory per
queued task matters); this module is where the defaults are applied on read.
Fields are decoded lazily, on first access: a worker claiming thousands of
tasks a second reads a few fields of each, not all thirty.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable

from .errors import TaskqError
from .isotime import from_ms, to_ms
from .jsontext import deeper_than
from .keys import queue_of


def _s(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def decode_hash(raw: Any) -> dict[str, str]:
    """A hash as str -> str, from HGETALL's dict or Lua's flat list."""
    if isinstance(raw, dict):
        if raw and isinstance(next(iter(raw)), str):
            return raw
        return {_s(k): _s(v) for k, v in raw.items()}
    it = iter(raw)
    if raw and isinstance(raw[0], str):
        return dict(zip(it, it))
    return {_s(k): _s(v) for k, v in zip(it, it)}


def ms_to_dt(ms: Any) -> datetime | None:
    if ms in (None, ""):
        return None
    return from_ms(int(float(ms)))


dt_to_ms = to_ms


MAX_READ_DEPTH = 200
"""A stored value nested deeper than this (only a producer bypassing
taskq.options could store one) is read as its JSON text: every later
encoder (jsonify, marshmallow) would otherwise fail on it."""


def _json(value: str | None, default: Any = None) -> Any:
    if value is None:
        return default
    if deeper_than(value, MAX_READ_DEPTH):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):  # not JSON, or too deep to read: the text itself
        return value


def _int(default: int = 0) -> Callable[[str | None], int]:
    return lambda v: default if v is None else int(float(v))


def _seconds_from_ms(v: str | None) -> float | None:
    return None if v is None else int(float(v)) / 1000


# attribute -> (hash field, decoder of the field's text or None when absent)
_FIELDS: dict[str, tuple[str, Callable[[str | None], Any]]] = {
    "status": ("status", lambda v: v or "unknown"),
    "func": ("func", lambda v: v),
    "args": ("args", lambda v: _json(v, [])),
    "kwargs": ("kwargs", lambda v: _json(v, {})),
    "meta": ("meta", lambda v: _json(v, {})),
    "priority": ("priority", _int()),
    "created_at": ("created", ms_to_dt),
    "updated_at": ("updated", ms_to_dt),
    "scheduled_at": ("scheduled", ms_to_dt),
    "started_at": ("started", ms_to_dt),
    "leased_at": ("leased", ms_to_dt),
    "finished_at": ("finished", ms_to_dt),
    "lease_expires_at": ("expires", ms_to_dt),
    "attempts": ("attempts", _int()),
    "max_retries": ("max_retries", _int()),
    "retries": ("retries", _int()),
    "timeout": ("timeout", lambda v: None if v is None else float(v)),
    "backoff": ("backoff", lambda v: v or "exponential_jitter"),
    "backoff_base": ("backoff_base", lambda v: _int(1000)(v) / 1000),
    "tags": ("tags", lambda v: _json(v, [])),
    "dependencies": ("deps", lambda v: _json(v, [])),
    "dependency_policy": ("dep_policy", lambda v: v or "fail"),
    "dedupe_key": ("dedupe", lambda v: v),
    "concurrency_key": ("ckey", lambda v: v),
    "rate_key": ("rkey", lambda v: v),
    "on_success": ("on_success", lambda v: v),
    "on_failure": ("on_failure", lambda v: v),
    "description": ("desc", lambda v: v),
    "lease_seconds": ("lease_ms", _seconds_from_ms),
    "worker": ("worker", lambda v: v),
    "cancel_requested": ("cancel", lambda v: v == "1"),
    "result": ("result", _json),
    "error": ("error", lambda v: v),
    "checkpoint": ("checkpoint", _json),
}


class Task:
    """One task as read from Redis: ``task.status``, ``task.args``,
    ``task.created_at`` (UTC datetimes), ``task.raw`` (the hash's fields; in
    the snapshot enqueue returns, numbers may still be numbers)."""

    __slots__ = ("id", "raw", "_cache", "_queue")

    def __init__(self, id: str, raw: dict[str, str] | None = None, queue: Any = None):
        self.id = id
        self.raw = raw or {}
        self._cache: dict[str, Any] = {}
        self._queue = queue  # the Queue that produced this snapshot, for wait()

    @classmethod
    def from_hash(cls, task_id: str, raw: Any, queue: Any = None) -> "Task":
        return cls(task_id, decode_hash(raw), queue)

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the task ends and return its result (see
        :meth:`taskq.Queue.result`). Works on a Task that a Queue returned
        (enqueue, get, list); with a bare id use ``Queue.result(id)``."""
        if self._queue is None:
            raise TaskqError(f"task {self.id}: this snapshot does not know its Queue; "
                             "use Queue.result(task_id)")
        return self._queue.result(self.id, timeout)

    def __getattr__(self, name: str) -> Any:
        spec = _FIELDS.get(name)
        if spec is None:
            raise AttributeError(name)
        cache = self._cache
        if name not in cache:
            cache[name] = spec[1](self.raw.get(spec[0]))
        return cache[name]

    @property
    def queue(self) -> str:
        return queue_of(self.id)

    @property
    def concurrency_limit(self) -> int | None:
        return int(self.raw.get("climit", 1)) if "ckey" in self.raw else None

    def to_dict(self) -> dict[str, Any]:
        """Every field, decoded (for logs, JSON views and tests)."""
        out = {"id": self.id, "queue": self.queue}
        out.update((name, getattr(self, name)) for name in _FIELDS)
        out["concurrency_limit"] = self.concurrency_limit
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and (self.id, self.raw) == (other.id, other.raw)

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Task({self.id!r}, status={self.status!r}, func={self.func!r})"
