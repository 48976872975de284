"""An RQ job, as RQ builds it in memory, turned into taskq's enqueue
options: the one place RQ's meanings are mapped onto taskq's.

RQ                               taskq
job_timeout (queue default 180)  timeout; -1: none
result_ttl (default 500 s)       keep_completed; -1: kept (the count caps still apply)
failure_ttl (default 1 year)     keep_failed; -1: kept
Retry(max, interval)             max_retries, backoff: fixed wait, or a wait per retry
no Retry                         max_retries=0, as RQ never retries unasked
depends_on, Dependency           depends_on (ids found in the enqueuing queue, else any
                                 queue; a missing one is taken as done, as RQ does);
                                 allow_failure: 'release'
at_front, enqueue_at_front       the highest priority
job_id                           task_id (the task id is '<queue>:<job_id>')
meta, description                meta, description
on_success, on_failure           on_success, on_failure (workers.callbacks)
a lambda or local function       refused, as taskq's enqueue refuses it (RQ gives its
                                 name, '<lambda>', which no worker could import)

Refused, with RefusedOption (a TaskqValueError): ttl, on_stopped, repeat,
webhooks, a bound method or callable object as the function, a pipeline,
and arguments JSON cannot carry.
"""

from __future__ import annotations

from typing import Any

from rq.defaults import DEFAULT_FAILURE_TTL, DEFAULT_RESULT_TTL

from taskq.errors import TaskqValueError
from taskq.functions import _REGISTRY
from taskq.options import PRIORITY_MAX
from taskq.retention import MAX_SECONDS

from .job import find_task_ids


class RefusedOption(TaskqValueError):
    """An RQ option taskq has no faithful meaning for."""


def _keep(value: int | None, default: int) -> float:
    if value is None:
        return float(default)
    if value < 0:  # RQ's -1: never expires
        return float(MAX_SECONDS)
    return float(min(value, MAX_SECONDS))


def options_of(job: Any, queue: Any, at_front: bool = False,
               resolve_dependencies: bool = True) -> tuple[str, Any, Any, dict]:
    """(func, args, kwargs, options) of an RQ job for taskq.options.build_spec;
    dependencies are looked up in ``queue``'s Redis (unless told not to)."""
    if job._instance is not None:
        raise RefusedOption("a bound method or a callable object cannot be a taskq task's function: "
                            "enqueue a module-level function (or its 'module.function' name)")
    for attr, what in (("ttl", "ttl (discard the job if it has not started in time)"),
                       ("_stopped_callback_name", "on_stopped"),
                       ("repeats_left", "repeat (use a taskq schedule, or rq-scheduler)"),
                       ("webhooks", "webhooks (use taskq's webhooks)")):
        if getattr(job, attr, None):
            raise RefusedOption(f"{what} is not offered by taskq.rq")
    o: dict[str, Any] = {
        "keep_completed": _keep(job.result_ttl, DEFAULT_RESULT_TTL),
        "keep_failed": _keep(job.failure_ttl, DEFAULT_FAILURE_TTL),
        "max_retries": job.retries_left or 0,
    }
    timeout = job.timeout
    if timeout is None and queue is not None:  # a Job.create()d job: the queue's default, as RQ
        timeout = queue._default_timeout
    if timeout is not None and timeout > 0:
        o["timeout"] = timeout
    if job.retries_left:
        intervals = job.retry_intervals or [0]
        if len(intervals) == 1:
            o["backoff"], o["backoff_base"] = "fixed", intervals[0]
        else:
            o["backoff"] = list(intervals)
    if job.meta:
        o["meta"] = job.meta
    if job.description:
        o["description"] = job.description
    if job._success_callback_name:
        o["on_success"] = importable("on_success", job._success_callback_name)
    if job._failure_callback_name:
        o["on_failure"] = importable("on_failure", job._failure_callback_name)
    if at_front or job.enqueue_at_front:
        o["priority"] = PRIORITY_MAX
    if job._id:
        o["task_id"] = job._id
    if job._dependency_ids and resolve_dependencies:
        found = find_task_ids(queue.taskq.redis, list(job._dependency_ids), queue.prefix,
                              prefer=queue.name)  # the enqueuing queue's own id first
        deps = [d for d in found if d is not None]  # RQ: a dependency that is gone is met
        if deps:
            o["depends_on"] = deps
            if job.allow_dependency_failures:
                o["dependency_policy"] = "release"
    args, kwargs = list(job._args or ()), dict(job._kwargs or {})
    return importable(None, job._func_name), args, kwargs, o


def importable(option: str | None, name: str | None) -> str | None:
    """RQ's name of a function: a lambda's or local function's name
    (``module.<lambda>``, ``module.f.<locals>.g``) is refused as taskq
    refuses the function itself, unless it is a @taskq.task's name."""
    if name and "<" in name and name not in _REGISTRY:
        what = f"{name!r} is not importable by workers (lambda or local)"
        raise TaskqValueError(f"{option}: {what}" if option else what)
    return name

