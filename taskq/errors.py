"""Exceptions, and the one table that maps Lua return codes to them.

Scripts return ``{code, ...}``; a negative code is a refusal that changed
nothing. Callers (Python API, REST dialects) catch these types: the HTTP layer
maps NotFound -> 404, Conflict family -> 409, TaskqValueError -> 400/422.
"""

from __future__ import annotations

from redis.exceptions import OutOfMemoryError, ResponseError


class TaskqError(Exception):
    """Base class for every taskq error."""

    code = "taskq_error"


class RedisFull(TaskqError, OutOfMemoryError):
    """Redis refused a write: it is at its ``maxmemory`` under the
    ``noeviction`` policy. The refused call wrote nothing (Redis refuses a
    script at its first write that could grow memory, so a taskq transition
    happens whole or not at all); retry once memory is freed (retention,
    a larger plan). Also a redis-py ``OutOfMemoryError``, so handlers
    written for redis-py keep working. ``enqueued``: for an
    ``enqueue_many`` larger than one script call, the tasks of the calls
    that went through before the refusal."""

    code = "redis_full"

    def __init__(self, message: str, enqueued: list | None = None):
        super().__init__(message)
        self.enqueued = enqueued or []


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is Redis refusing a write for maxmemory: an
    OutOfMemoryError, or (Redis 6.2, inside a script) a ResponseError
    "Error running script ... -OOM command not allowed ..."."""
    return isinstance(exc, OutOfMemoryError) or (
        isinstance(exc, ResponseError) and "-OOM command not allowed" in str(exc))


def redis_full(exc: BaseException) -> RedisFull:
    """The RedisFull for Redis's own OOM refusal ``exc``."""
    if isinstance(exc, RedisFull):
        return exc
    return RedisFull("Redis is full and refuses writes (OOM command not allowed when used "
                     "memory > 'maxmemory'); nothing was written")


class TaskqValueError(TaskqError, ValueError):
    """Bad input from the caller (priority out of range, negative delay...)."""

    code = "invalid_argument"


class CyclicDependencyError(TaskqValueError):
    code = "cyclic_dependency"


class TaskNotFound(TaskqError, LookupError):
    code = "not_found"


class TaskExpired(TaskNotFound):
    """The task ended and retention removed it (taskq.retention); its
    tombstone says how it ended (``status``, ``finished`` ms)."""

    code = "task_expired"

    def __init__(self, message: str, status: str, finished: int):
        super().__init__(message)
        self.status, self.finished = status, finished


class DependencyNotFound(TaskqValueError):
    code = "dependency_not_found"


class Conflict(TaskqError):
    """The task is not in a state that allows the transition."""

    code = "conflict"

    def __init__(self, message: str, status: str | None = None):
        super().__init__(message)
        self.status = status


class LeaseLost(Conflict):
    """The token does not hold the task's lease (stale, foreign, or expired)."""

    code = "lease_lost"


class InvalidState(Conflict):
    code = "invalid_state"


class TaskExists(Conflict):
    code = "task_exists"


class TaskEnded(TaskqError):
    """A waited-for task ended without a result; ``task`` is its final
    snapshot and ``error`` its error text (None when it recorded none)."""

    def __init__(self, message: str, task, error: str | None):
        super().__init__(message)
        self.task = task
        self.error = error


class TaskFailed(TaskEnded):
    """Raised by Task.wait / Queue.result when the task failed for good
    (a task that will be retried has not ended: the wait goes on)."""

    code = "task_failed"


class TaskCancelled(TaskEnded):
    """Raised by Task.wait / Queue.result when the task was cancelled."""

    code = "task_cancelled"


class WaitTimeout(TaskqError, TimeoutError):
    """Task.wait / Queue.result gave up: the task had not ended in time."""

    code = "wait_timeout"

    def __init__(self, message: str, task_id: str, timeout: float):
        super().__init__(message)
        self.task_id = task_id
        self.timeout = timeout


# Lua result codes (see taskq/lua/includes/codes.lua).
OK = 1
NOOP = 0
E_NOT_FOUND = -1
E_LEASE = -2
E_STATE = -3
E_EXISTS = -4
E_DEP_MISSING = -5


def raise_for(code: int, task_id: str, detail: str | None = None) -> None:
    """Turn a negative script code into the matching exception."""
    if code >= 0:
        return
    if code == E_NOT_FOUND:
        raise TaskNotFound(f"task {task_id} not found")
    if code == E_LEASE:
        raise LeaseLost(f"lease token does not hold task {task_id}", status=detail)
    if code == E_STATE:
        raise InvalidState(f"task {task_id} is {detail}", status=detail)
    if code == E_EXISTS:
        raise TaskExists(f"task {task_id} already exists")
    if code == E_DEP_MISSING:
        raise DependencyNotFound(f"dependency {detail} of task {task_id} not found")
    raise TaskqError(f"unexpected script code {code} for {task_id}")
