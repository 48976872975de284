"""Workflows: one run of a handler, one engine task per step.

All steps of every workflow go to one shared engine queue, ``workflows``
(WORKFLOW_QUEUE). A queue is one Redis hash tag, so a workflow's steps and
every dependency edge between them live under one tag: creating the
workflow is one enqueue script call, and a step's completion releases its
dependents inside the complete script itself (no cross-queue outbox). A
queue per workflow would give the same, but workers serve named queues, so
each new workflow would need every worker to learn a new queue name; one
shared queue is served by ``taskq worker workflows`` out of the box.

The workflow's record (handler, version, context, per-step inputs and task
ids) is a hash in WorkflowKeys; its status is derived from its steps'
engine tasks each time it is read, so what ``get`` shows cannot go stale.
For listing, the workflow is also filed in the index of its status, which
follow-ups of every step change keep up to date (taskq.workflows.status).

The record (``{wf}`` slot) and the steps (the queue's slot) cannot be written
by one script on a cluster, so the record comes first, marked ``creating``,
and the marker is removed once the steps are enqueued. Between the two, a
reader finds steps that do not exist yet: while the marker is there, a
missing step is ``pending`` (not yet enqueued), never ``cancelled``, and
nothing files the workflow's outcome; only the sweep, after CREATE_GRACE
seconds, takes a creation whose steps never came (its creator died) as
cancelled (taskq.workflows.sweep).
"""

from __future__ import annotations

import json
import uuid

from ..connection import as_taskq_client
from ..errors import TaskExists, TaskqValueError
from ..isotime import iso
from ..keys import DEFAULT_PREFIX, WORKFLOW_QUEUE, WorkflowKeys
from .. import tracing
from ..options import build_spec, json_text
from ..queue import Queue
from ..task import Task, ms_to_dt
from . import catalog, indexes
from .counters import STATS_TTL, hour_of, workflow_prefix
from .handlers import Handler, Registry, registry as _process
from .states import CREATING, RUNNER, awaits_steps, step_status, workflow_status

class HandlerNotFound(TaskqValueError, LookupError):
    code = "handler_not_found"


class WorkflowNotFound(TaskqValueError, LookupError):
    code = "workflow_not_found"


def step_task_id(queue: str, workflow_id: str, step: str) -> str:
    return f"{queue}:{workflow_id}.{step}"


def find_handler(redis, full_name: str, version: str | None = None,
                 registry: Registry | None = None, prefix: str | None = None) -> Handler:
    """The handler from ``registry`` (default: this process's), else from
    the definitions workers published."""
    for reg in ([registry] if registry is not None else [_process]):
        h = reg.resolve(full_name, version)
        if h is not None:
            return h
    h = catalog.published(redis, prefix).resolve(full_name, version)
    if h is None:
        raise HandlerNotFound(f"handler {full_name!r} version {version or 'latest'!r} not found")
    return h


def create(redis, handler: str | Handler, version: str | None = None,
           context: dict | None = None, *, inputs: dict[str, dict] | None = None,
           registry: Registry | None = None, prefix: str | None = None,
           queue: str = WORKFLOW_QUEUE, workflow_id: str | None = None,
           priority: int = 0, concurrency_key: str | None = None) -> dict:
    """Start a workflow of ``handler`` ("namespace.name" or with "@version";
    version None = latest) and return it as ``get`` does. Its steps are
    enqueued in one script call, wired with the handler's DAG.

    ``workflow_id`` makes the call idempotent (a schedule's run derives it
    from the run): the record is kept if it exists, steps already enqueued
    are not enqueued again. ``priority`` and ``concurrency_key`` (limit 1)
    apply to every step task."""
    redis = as_taskq_client(redis)
    prefix = prefix or DEFAULT_PREFIX
    h = handler if isinstance(handler, Handler) else find_handler(redis, handler, version, registry, prefix)
    context = {} if context is None else context
    if not isinstance(context, dict):
        raise TaskqValueError("context must be a JSON object")
    inputs = inputs or {}
    unknown = set(inputs) - {s.name for s in h.steps}
    if unknown:
        raise TaskqValueError(f"inputs for unknown step(s): {', '.join(sorted(unknown))}")
    wid = workflow_id or str(uuid.uuid4())
    q = Queue(queue, redis=redis, prefix=prefix)
    ids = {s.name: step_task_id(queue, wid, s.name) for s in h.steps}
    with tracing.span(f"taskq.workflow {h.namespace}.{h.name}", **{
            "taskq.workflow.id": wid, "taskq.workflow.handler": f"{h.namespace}.{h.name}",
            "taskq.workflow.version": h.version}):
        specs = _step_specs(h, queue, wid, ids, priority, concurrency_key)  # each step: a child span
    record = {"id": wid, "namespace": h.namespace, "name": h.name, "version": h.version,
              "queue": queue, "context": json_text("context", context),
              "steps": json.dumps({s.name: {"task": ids[s.name], "skippable": s.skippable,
                                            "retryable": s.default_retryable,
                                            "deps": s.depends_on} for s in h.steps}),
              "order": json.dumps(h.execution_order), CREATING: "1", "state": "pending"}
    for name, value in inputs.items():
        if not isinstance(value, dict):
            raise TaskqValueError(f"inputs of step {name!r} must be a JSON object")
        record[f"inputs:{name}"] = json_text(f"inputs.{name}", value)
    wk = WorkflowKeys(prefix)
    now_us = _redis_us(redis)  # index score: microseconds keep creation order
    record["created"] = now_us // 1000
    # With a workflow_id a repeated call keeps the first record's creation
    # time and must not index or count the workflow twice: HSETNX decides.
    first = workflow_id is None or bool(redis.hsetnx(wk.workflow(wid), "created", record["created"]))
    if not first:
        del record["created"]
        del record["state"]  # filed by the first call and its follow-ups
    index_keys = [*indexes.state_keys(wk, "all", h.namespace, h.name, h.version),
                  *indexes.state_keys(wk, "pending", h.namespace, h.name, h.version)]
    stats = wk.stats(hour_of(now_us // 1000))
    pipe = redis.pipeline(transaction=True)  # one slot: every key has the {wf} tag
    pipe.hset(wk.workflow(wid), mapping=record)
    if first:
        for key in index_keys:
            pipe.zadd(key, {wid: now_us})
        pipe.zadd(wk.check, {wid: now_us // 1000})
        pipe.hincrby(stats, workflow_prefix(h.namespace, h.name, h.version) + "created", 1)
        pipe.expire(stats, STATS_TTL)
    pipe.execute()
    try:
        q.enqueue_specs(specs)
    except TaskExists:
        if workflow_id is None:
            raise
        # the same workflow_id again: its steps were enqueued by an earlier call
    except Exception:
        if workflow_id is None:  # with an id, the next call with it finishes the job
            pipe = redis.pipeline(transaction=True)
            pipe.delete(wk.workflow(wid))
            for key in index_keys:
                pipe.zrem(key, wid)
            pipe.zrem(wk.check, wid)
            pipe.hincrby(stats, workflow_prefix(h.namespace, h.name, h.version) + "created", -1)
            pipe.execute()
        raise
    # The steps exist: drop the marker, and read the record in the same trip.
    pipe = redis.pipeline(transaction=False)
    pipe.hdel(wk.workflow(wid), CREATING)
    pipe.hgetall(wk.workflow(wid))
    return _view(redis, wid, _decoded(pipe.execute()[1]), prefix)


def _step_specs(h: Handler, queue: str, wid: str, ids: dict[str, str], priority: int,
                concurrency_key: str | None) -> list:
    """The engine tasks of a workflow's steps, wired with the handler's DAG."""
    specs = []
    for s in h.steps:
        deps = s.depends_on
        skippable_deps = [d for d in deps if h.step(d).skippable]
        spec = build_spec(
            queue, RUNNER, kwargs={"workflow": wid, "step": s.name, "handler_class": s.handler_class,
                                   "deps": {d: ids[d] for d in deps},
                                   "skippable_deps": skippable_deps},
            task_id=ids[s.name], depends_on=[ids[d] for d in deps],
            # a failed/cancelled skippable step must release its dependents;
            # the runner refuses to run if a non-skippable dependency did not complete
            dependency_policy="release" if skippable_deps else "fail",
            max_retries=s.default_retry_limit if s.default_retryable else 0,
            meta={"workflow": wid, "step": s.name}, tags=[f"workflow:{wid}"], priority=priority,
            **({"concurrency_key": concurrency_key, "concurrency_limit": 1} if concurrency_key else {}))
        if s.custom_events:
            spec.fields["wf_events"] = " ".join(s.custom_events)
        specs.append(spec)
    return specs


def _redis_us(redis) -> int:
    sec, usec = redis.time()
    return int(sec) * 1_000_000 + int(usec)


def _decoded(raw: dict) -> dict:
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()}


def read_record(redis, workflow_id: str, prefix: str | None = None) -> dict:
    raw = redis.hgetall(WorkflowKeys(prefix or DEFAULT_PREFIX).workflow(workflow_id))
    if not raw:
        raise WorkflowNotFound(f"workflow {workflow_id!r} not found")
    return _decoded(raw)


def get(redis, workflow_id: str, prefix: str | None = None) -> dict:
    """The workflow with its steps (in execution order), statuses derived."""
    redis = as_taskq_client(redis)
    return _view(redis, workflow_id, read_record(redis, workflow_id, prefix), prefix)


def get_many(redis, workflow_ids: list[str], prefix: str | None = None) -> list[dict]:
    """The workflows of ``workflow_ids`` that exist, as ``get`` shows them,
    in two round trips whatever their number (a listing's page)."""
    redis = as_taskq_client(redis)
    wk = WorkflowKeys(prefix or DEFAULT_PREFIX)
    pipe = redis.pipeline(transaction=False)
    for wid in workflow_ids:
        pipe.hgetall(wk.workflow(wid))
    records = [(wid, _decoded(raw)) for wid, raw in zip(workflow_ids, pipe.execute()) if raw]
    pipe = redis.pipeline(transaction=False)
    counts = [_queue_step_reads(pipe, redis, rec, prefix) for _, rec in records]
    replies = pipe.execute() if records else []
    out, at = [], 0
    for (wid, rec), n in zip(records, counts):
        out.append(_build(redis, wid, rec, prefix, replies[at:at + n]))
        at += n
    return out


def _queue_step_reads(pipe, redis, rec: dict, prefix: str | None) -> int:
    q = Queue(rec["queue"], redis=redis, prefix=prefix)
    meta = json.loads(rec["steps"])
    order = json.loads(rec["order"])
    for n in order:
        pipe.hgetall(q.qkeys.task(meta[n]["task"]))
    return len(order)


def _view(redis, workflow_id: str, rec: dict, prefix: str | None) -> dict:
    if not rec:
        raise WorkflowNotFound(f"workflow {workflow_id!r} not found")
    pipe = redis.pipeline(transaction=False)
    _queue_step_reads(pipe, redis, rec, prefix)
    return _build(redis, workflow_id, rec, prefix, pipe.execute())


def _build(redis, workflow_id: str, rec: dict, prefix: str | None, raws: list) -> dict:
    q = Queue(rec["queue"], redis=redis, prefix=prefix)
    meta = json.loads(rec["steps"])
    order = json.loads(rec["order"])
    tasks = [Task.from_hash(meta[n]["task"], raw, q) if raw else None
             for n, raw in zip(order, raws)]
    steps = []
    updated = int(rec["created"])
    enqueued = not awaits_steps(rec)
    for name, task in zip(order, tasks):
        m = meta[name]
        status = step_status(task, m["skippable"], enqueued)
        started = task.started_at if task else None
        if task and task.raw.get("updated"):
            updated = max(updated, int(float(task.raw["updated"])))
        steps.append({
            "name": name, "status": status,
            "results": task.result if task and status == "complete" else None,
            "attempts": task.attempts if task else 0,
            "retry_limit": task.max_retries if task else 0,
            "retryable": m["retryable"], "skippable": m["skippable"],
            "depends_on": m["deps"],
            "inputs": json.loads(rec.get(f"inputs:{name}", "{}")),
            "error": task.error if task and status in ("error", "skipped", "cancelled") else None,
            "started_at": iso(started),
            "completed_at": iso(task.finished_at) if task and status != "pending" and status != "in_progress" else None,
            "duration_ms": (int((task.finished_at - started).total_seconds() * 1000)
                            if task and started and task.finished_at else None),
            "task_id": m["task"],
        })
    created = ms_to_dt(rec["created"])
    return {"id": workflow_id, "namespace": rec["namespace"], "name": rec["name"],
            "version": rec["version"],
            "full_name": f"{rec['namespace']}.{rec['name']}@{rec['version']}",
            "status": workflow_status([s["status"] for s in steps]),
            "context": json.loads(rec["context"]), "queue": rec["queue"],
            "created_at": iso(created), "updated_at": iso(ms_to_dt(str(updated))),
            "steps": steps}
