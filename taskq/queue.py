"""Queue: the producer's API (enqueue, look up, list, cancel, retry) and the
queue-wide switches (pause, resume). Every state change is one Lua call.

    from taskq import Queue
    q = Queue("default")
    t = q.enqueue("myapp.tasks:send_email", to="x", priority=8, delay=30)
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from . import deps, rates, retention
from .connection import as_taskq_client
from .errors import (E_DEP_MISSING, E_EXISTS, E_NOT_FOUND, E_STATE, Conflict, CyclicDependencyError,
                     DependencyNotFound, RedisFull, TaskExists, TaskNotFound, TaskqError, TaskqValueError,
                     raise_for)
from .keys import DEFAULT_PREFIX, STATUSES, Keys, queue_of
from .lease import DEFAULT_LEASE, Lease, claim
from .options import (OPTION_NAMES, TaskSpec, build_spec, build_update, check_queue_name, json_text,
                      merge_meta, order_batch, specs_json, storable_text)
from .lua import call, call_with_keys, execute
from .task import Task, decode_hash
from .waiting import wait_for

BATCH_SIZE = 1000
"""Tasks per enqueue script call: one call is all-or-nothing, and a call of
this size keeps Redis busy for only a few milliseconds."""
MAX_PAGE = 1000
UPDATE_ATTEMPTS = 5
"""Tries of an update that merges meta, when other updates keep changing
the task between our read and our write (each try is one read, one script)."""
ONE_KEY_NAMES = ("meta", "queued", "delayed", "all", "stats", "events", "wake", "series",
                 "task_prefix")
"""The keys lua/enqueue_one-9.lua declares, in its KEYS order."""
CANCEL_MODES = ("request", "force")
"""How cancel treats a running task: ask its holder to stop, or end it now."""


class Queue:
    """A queue's producer API. ``redis`` is any redis-py client (decoding
    replies or not; default: $REDIS_URL), see taskq.connection. One Queue
    may be shared by any number of threads: its only state besides its
    names is whether it has registered the queue name yet."""

    def __init__(self, name: str = "default", redis=None, prefix: str | None = None):
        self.name = check_queue_name(name)
        self.redis = as_taskq_client(redis)
        self.keys = Keys(prefix or DEFAULT_PREFIX)
        self.qkeys = self.keys.queue(name)
        self._registered = False
        self._one_keys = [getattr(self.qkeys, n).encode() for n in ONE_KEY_NAMES]  # sent as they are

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"

    # -- producing --------------------------------------------------------
    def enqueue(self, func: Any, *args: Any, **kwargs: Any) -> Task:
        """Enqueue ``func(*args, **kwargs)``. Keyword arguments named like an
        option (priority, delay, depends_on, ... see taskq.options) configure
        the task; use :meth:`enqueue_call` when the function needs them."""
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in OPTION_NAMES} if kwargs else {}
        return self.enqueue_call(func, args=args, kwargs=kwargs, **options)

    def enqueue_call(self, func: Any = None, args: Sequence = (), kwargs: dict | None = None,
                     **options: Any) -> Task:
        return self.enqueue_specs([build_spec(self.name, func, args, kwargs, **options)])[0]

    def _enqueue_one(self, spec: TaskSpec) -> Task:
        """A plain task (no dependencies, dedupe key, tags or concurrency
        key) in one short script call: flat arguments, only the keys it
        touches (lua/enqueue_one)."""
        reply = call_with_keys(self.redis, "enqueue_one", self._one_keys, *spec.flat_args())
        if reply[0] == E_EXISTS:
            raise TaskExists(f"task {reply[2]} already exists")
        return self._task_from_spec(spec, reply[2], reply[3], reply[1])

    def enqueue_many(self, tasks: Iterable[dict]) -> list[Task]:
        """Enqueue many tasks in one round trip (one script call per
        BATCH_SIZE tasks). Every task is validated before anything is sent;
        a batch task may depend on another by the ``task_id`` it was given."""
        specs = [build_spec(self.name, **t) for t in tasks]
        return self.enqueue_specs(specs)

    def enqueue_specs(self, specs: list[TaskSpec]) -> list[Task]:
        if not specs:
            return []
        if len(specs) == 1 and self._registered and specs[0].plain:
            return [self._enqueue_one(specs[0])]
        ordered = order_batch(specs)
        self._check_foreign_deps(ordered)
        # Read once: threads share a Queue, and another one may set the flag
        # between building this pipeline and reading its replies.
        register = not self._registered
        pipe = self.redis.pipeline(transaction=False)
        if register:
            pipe.sadd(self.keys.queues, self.name)
        for i in range(0, len(ordered), BATCH_SIZE):
            chunk = ordered[i:i + BATCH_SIZE]
            call(pipe, "enqueue", self.qkeys, specs_json(chunk))
        replies = execute(pipe, raise_on_error=False)
        if register:
            added, replies = replies[0], replies[1:]
            # a racing thread's extra SADD is harmless; a refused one is sent again
            self._registered = not isinstance(added, Exception)
        created, full = enqueue_replies(ordered, replies)
        deps.link(self.redis, self.keys, [
            (s.id, d) for s in ordered if s.id in created and created[s.id][1] != "duplicate"
            for d in s.deps if queue_of(d) != self.name])
        tasks = [self._task_from_spec(s, *created[s.id]) for s in specs if s.id in created]
        return enqueued(specs, tasks, full)

    def _check_foreign_deps(self, specs: list[TaskSpec]) -> None:
        foreign = sorted({d for s in specs for d in s.deps if queue_of(d) != self.name})
        if not foreign:
            return
        pipe = self.redis.pipeline(transaction=False)
        for d in foreign:
            pipe.exists(self.keys.queue(queue_of(d)).task(d))
            pipe.zscore(self.keys.queue(queue_of(d)).gone, d)  # removed by retention: it ended
        replies = pipe.execute()
        for d, exists, gone in zip(foreign, replies[::2], replies[1::2]):
            if not exists and gone is None:
                raise DependencyNotFound(f"dependency {d} not found")

    def _task_from_spec(self, spec: TaskSpec, tid: str, status: str, now_ms: int) -> Task:
        if status == "duplicate":
            gone = None if (task := self.get(tid)) else self.removed(tid)
            return task or Task(tid, {"status": gone["status"] if gone else "unknown"}, self)
        return task_from_spec(spec, tid, status, now_ms, self)

    # -- reading ----------------------------------------------------------
    def get(self, task_id: str) -> Task | None:
        if self._owns(task_id):
            raw = self.redis.hgetall(self.qkeys.task(task_id))
            if raw:
                return Task.from_hash(task_id, raw, self)
        return None

    def removed(self, task_id: str) -> dict | None:
        """How a task that retention removed ended, from its tombstone:
        ``{"status": "completed" | "failed" | "cancelled", "finished": ms}``;
        None when there is none (never existed, or removed too long ago:
        taskq.retention.TOMBSTONE_SECONDS)."""
        if not self._owns(task_id):
            return None
        return retention.read_tombstone(self.redis.zscore(self.qkeys.gone, task_id))

    def set_retention(self, **settings: Any) -> None:
        """This queue's retention (taskq.retention), each setting given
        set (None clears it, back to the default): ``completed``, ``failed``
        (seconds a finished task is kept; 0: removed at the next upkeep
        visit), ``completed_count``, ``failed_count`` (tasks kept, at most)."""
        retention.set_queue_retention(self.redis, self.qkeys.meta, **settings)

    def set_rate_limit(self, limit: Any, key: str | None = None) -> None:
        """At most ``limit`` task starts per period (``"100/s"``, ``"10/m"``,
        ``"5/10s"`` or (count, seconds); None removes it) for this queue, or
        with ``key`` for its tasks enqueued with that ``rate_key``
        (taskq.rates). Takes effect at the next claim."""
        rates.set_limit(self.redis, self.qkeys, limit, key)

    def rate_limits(self) -> dict[str, Any]:
        """``{"queue": "100/s" or None, "keys": {rate key: limit, ...}}``."""
        return rates.limits(self.redis, self.qkeys)

    def retention_settings(self) -> retention.Retention:
        """This queue's own retention settings (None where the default applies)."""
        return retention.queue_retention(self.redis, self.qkeys.meta)

    def get_many(self, ids: Sequence[str]) -> list[Task]:
        pipe = self.redis.pipeline(transaction=False)
        for tid in ids:
            pipe.hgetall(self.qkeys.task(tid))
        return [Task.from_hash(tid, raw, self) for tid, raw in zip(ids, pipe.execute()) if raw]

    def result(self, task_id: str, timeout: float | None = None) -> Any:
        """Block until the task ends; return its result. Raises TaskFailed
        (failed for good: a task being retried is still waited for),
        TaskCancelled, WaitTimeout after ``timeout`` seconds (None: no limit,
        0: answer only if it has already ended), TaskNotFound. Pushed, not
        polled: see taskq.waiting."""
        if not self._owns(task_id):
            raise TaskNotFound(f"task {task_id} not found in queue {self.name}")
        return wait_for(self, task_id, timeout)

    def list(self, status: str | None = None, tag: str | None = None,
             offset: int = 0, limit: int = 50, newest_first: bool = True) -> list[Task]:
        """Tasks in one status (in that status's order: queued by run order,
        delayed by due time, running by lease expiry, finished by end time)
        or with a tag, or all (by creation); paged by offset/limit."""
        ids = self.list_ids(status, tag, offset, limit, newest_first)
        return self.get_many(ids)

    def list_ids(self, status=None, tag=None, offset=0, limit=50, newest_first=True) -> list[str]:
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise TaskqValueError(f"limit must be 1..{MAX_PAGE} and offset >= 0")
        key = self._index(status, tag)
        start, stop = offset, offset + limit - 1
        if status in ("queued", "delayed", "running") and not tag:
            return self.redis.zrange(key, start, stop)
        if newest_first:
            return self.redis.zrevrange(key, start, stop)
        return self.redis.zrange(key, start, stop)

    def count(self, status: str | None = None, tag: str | None = None) -> int:
        return self.redis.zcard(self._index(status, tag))

    def _index(self, status: str | None, tag: str | None) -> str:
        if status is not None and status not in STATUSES:
            raise TaskqValueError(f"status must be one of {', '.join(STATUSES)}")
        if status and tag:
            raise TaskqValueError("filter by status or by tag, not both")
        if tag:
            return self.qkeys.tag(tag)
        return self.qkeys.status_index(status) if status else self.qkeys.all

    def counts(self) -> dict[str, int]:
        """How many tasks are in each status."""
        pipe = self.redis.pipeline(transaction=False)
        for s in STATUSES:
            pipe.zcard(self.qkeys.status_index(s))
        return dict(zip(STATUSES, pipe.execute()))

    def stats(self) -> dict[str, int]:
        """Lifetime counters per event (created, started, completed, ...)."""
        return {k: int(v) for k, v in decode_hash(self.redis.hgetall(self.qkeys.stats)).items()}

    def logs(self, task_id: str, offset: int = 0, limit: int = 100) -> list[dict]:
        lines = self.redis.lrange(self.qkeys.log(task_id), offset, offset + limit - 1)
        return [json.loads(x) for x in lines]

    def log_count(self, task_id: str) -> int:
        return self.redis.llen(self.qkeys.log(task_id))

    @property
    def is_paused(self) -> bool:
        return self.redis.hget(self.qkeys.meta, "paused") in ("1", b"1")

    # -- transitions ------------------------------------------------------
    def _run(self, verb: str, task_id: str, *args) -> list:
        if not self._owns(task_id):
            raise TaskNotFound(f"task {task_id} not found in queue {self.name}")
        reply = call(self.redis, verb, self.qkeys, task_id, *args)
        raise_for(reply[0], task_id, reply[1] if len(reply) > 1 else None)
        return reply

    def cancel(self, task_id: str, reason: str = "", mode: str = "request") -> str:
        """Cancel; returns 'cancelled', or for a running task with
        mode='request', 'cancel_requested' (its holder stops at its next
        heartbeat and ends it cancelled). mode='force' cancels a running task
        at once: its lease is revoked, so whatever its holder reports later
        (heartbeat, checkpoint, log, complete, fail) is refused as LeaseLost
        and changes nothing."""
        if mode not in CANCEL_MODES:
            raise TaskqValueError(f"mode must be one of {', '.join(CANCEL_MODES)}")
        reply = self._run("cancel", task_id, reason, mode)
        if reply[2]:
            deps.drain_outbox(self.redis, self.keys, self.name)
        _workflow_follow_up(self, task_id)
        return reply[1]

    def retry(self, task_id: str) -> str:
        """Run a failed or cancelled task again; returns its new status."""
        status = self._run("retry", task_id)[1]
        _workflow_follow_up(self, task_id)
        return status

    def delete(self, task_id: str, force: bool = False) -> None:
        """Delete a task (a running one only with force=True)."""
        self.delete_many([task_id], force, missing_ok=False)

    def delete_many(self, task_ids: Iterable[str], force: bool = False, missing_ok: bool = True) -> int:
        """Delete tasks in one round trip (running ones only with force=True);
        returns how many were deleted. A task already gone is skipped, or
        with ``missing_ok=False`` raises TaskNotFound; any refusal is raised
        once the others' follow-ups (dependents, workflows) are done."""
        ids = []
        for task_id in task_ids:
            if self._owns(task_id):
                ids.append(task_id)
            elif not missing_ok:
                raise TaskNotFound(f"task {task_id} not found in queue {self.name}")
        if not ids:
            return 0
        steps = _workflow_steps(self, ids)
        pipe = self.redis.pipeline(transaction=False)
        for task_id in ids:
            call(pipe, "delete", self.qkeys, task_id, "1" if force else "0")
        deleted, outbox, refusal = [], False, None
        for task_id, reply in zip(ids, execute(pipe)):
            if reply[0] == E_NOT_FOUND and missing_ok:
                continue
            try:
                raise_for(reply[0], task_id, reply[1] if len(reply) > 1 else None)
            except TaskqError as exc:
                refusal = refusal or exc
                continue
            deleted.append(task_id)
            outbox = outbox or bool(reply[1])
        if outbox:
            deps.drain_outbox(self.redis, self.keys, self.name)
        if steps:
            _workflow_follow_up(self, deleted, steps)
        if refusal is not None:
            raise refusal
        return len(deleted)

    def update(self, task_id: str, **changes: Any) -> str:
        """Change a task that has not started (queued, delayed or blocked) in
        one script call; returns its new status. ``scheduled_at=None`` makes
        it due now, ``timeout=None`` removes its timeout, ``meta`` is merged
        (a None value removes a field; it may also be a function of the
        current meta returning the changes), ``depends_on`` replaces the list.
        A running or finished task raises InvalidState.

        Meta is merged here, in Python, and stored as text: the script
        writes it only if the task's ``ver`` field is still the one read
        with it (every update bumps ``ver``), else this tries again, up to
        UPDATE_ATTEMPTS times, then raises Conflict."""
        spec = build_update(self.name, task_id, changes)
        if not self._owns(task_id):
            raise TaskNotFound(f"task {task_id} not found in queue {self.name}")
        if spec.get("deps"):
            self._check_foreign_deps([TaskSpec(task_id, {}, spec["deps"])])
        meta_changes = spec.pop("meta", None)
        for attempt in range(UPDATE_ATTEMPTS):
            if meta_changes is not None:
                # Merge here, not in Lua (cjson would corrupt the values);
                # the script stores the text only if 'ver' has not moved.
                stored, ver = self.redis.hmget(self.qkeys.task(task_id), ["meta", "ver"])
                spec["meta"] = merge_meta(stored, meta_changes)
                spec["ver"] = ver or ""
            reply = self._run_update(task_id, spec)
            if reply is not None:
                break
        else:
            raise Conflict(f"task {task_id}: its meta kept changing during the update; try again",
                           status="meta_changed")
        foreign = reply[2:]
        deps.link(self.redis, self.keys, [(task_id, d) for d in foreign])
        return reply[1]

    def set_retry_limit(self, task_id: str, max_retries: int) -> str:
        """Change a task's retry budget even after it started (retrying or
        running: its future retries follow the new budget; its lease is not
        touched); returns its status. A finished task raises InvalidState."""
        n = build_update(self.name, task_id, {"max_retries": max_retries})["max_retries"]
        if not self._owns(task_id):
            raise TaskNotFound(f"task {task_id} not found in queue {self.name}")
        reply = call(self.redis, "retry_limit", self.qkeys, task_id, n)
        raise_for(reply[0], task_id, reply[1] if len(reply) > 1 else None)
        return reply[1]

    def _run_update(self, task_id: str, spec: dict) -> list | None:
        """One update call; None when the meta it merged changed meanwhile."""
        reply = call(self.redis, "update", self.qkeys, task_id, json_text("changes", spec))
        if reply[0] == E_STATE and reply[1] == "meta_changed":
            return None
        if reply[0] == E_STATE and reply[1] == "cycle":
            raise CyclicDependencyError(f"task {task_id} would depend on itself")
        if reply[0] == E_STATE and reply[1].startswith("dependency "):
            raise TaskqValueError(f"task {task_id}: {reply[1]}")
        raise_for(reply[0], task_id, reply[1] if len(reply) > 1 else None)
        return reply

    def pause(self) -> None:
        call(self.redis, "pause", self.qkeys, "1")

    def resume(self) -> None:
        call(self.redis, "pause", self.qkeys, "0")

    def claim(self, n: int = 1, lease: float = DEFAULT_LEASE, worker: str | None = None) -> list[Lease]:
        return claim(self.redis, self.keys, [self.name], n, lease, worker)

    def reap(self, limit: int = 1000) -> dict[str, int]:
        """Promote due delayed tasks and reap expired leases now."""
        _, requeued, failed, promoted, sent = call(self.redis, "reap", self.qkeys, limit)[:5]
        if sent:
            deps.drain_outbox(self.redis, self.keys, self.name)
        return {"requeued": requeued, "failed": failed, "promoted": promoted}

    def purge(self) -> int:
        """Delete every key of this queue (tests, tear-down). Not atomic."""
        n, batch = 0, []
        for key in self.redis.scan_iter(match=self.qkeys.pattern, count=1000):
            batch.append(key)
            if len(batch) == 1000:
                n += self.redis.unlink(*batch)
                batch = []
        if batch:
            n += self.redis.unlink(*batch)
        self.redis.srem(self.keys.queues, self.name)
        return n

    def _owns(self, task_id: str) -> bool:
        """Whether ``task_id`` is an id of this queue's (an id Redis cannot
        store, a lone surrogate, names no task: looked up, it is not found)."""
        try:
            return queue_of(task_id) == self.name and storable_text(task_id)
        except ValueError:
            return False


def get_task(task_id: str, redis=None, prefix: str | None = None) -> Task | None:
    """Look a task up by id alone (the id names its queue); ``redis`` is any
    redis-py client (default: $REDIS_URL)."""
    try:
        queue = queue_of(task_id)
    except ValueError:
        return None
    return Queue(queue, redis=redis, prefix=prefix).get(task_id)


def enqueue_replies(ordered: list[TaskSpec], replies: list
                    ) -> tuple[dict[str, tuple[str, str, int]], RedisFull | None]:
    """What the enqueue calls of ``ordered`` (BATCH_SIZE per call) created:
    {spec id: (task id, status, now ms)}, and the RedisFull of a call a
    full Redis refused (the others may have gone through). Raises what a
    refused call calls for (TaskExists, DependencyNotFound)."""
    created: dict[str, tuple[str, str, int]] = {}
    full = None
    for chunk_no, reply in enumerate(replies):
        chunk = ordered[chunk_no * BATCH_SIZE:(chunk_no + 1) * BATCH_SIZE]
        if isinstance(reply, RedisFull):  # this call wrote nothing; others may have
            full = full or reply
            continue
        if isinstance(reply, Exception):
            raise reply
        if reply[0] == E_EXISTS:
            raise TaskExists(f"task {reply[2]} already exists")
        if reply[0] == E_DEP_MISSING:
            raise DependencyNotFound(f"task {chunk[reply[1] - 1].id}: dependency {reply[2]} not found")
        for spec, tid, status in zip(chunk, reply[2::2], reply[3::2]):
            created[spec.id] = (tid, status, reply[1])
    return created, full


def enqueued(specs: list[TaskSpec], tasks: list[Task], full: RedisFull | None) -> list[Task]:
    """``tasks``, or the RedisFull that says which of ``specs`` were refused."""
    if full is not None and not tasks:
        raise full
    if full is not None:
        raise RedisFull(f"Redis is full and refused {len(specs) - len(tasks)} of {len(specs)} "
                        f"tasks; {len(tasks)} were enqueued (see .enqueued)", enqueued=tasks)
    return tasks


def task_from_spec(spec: TaskSpec, tid: str, status: str, now_ms: int, queue: Any) -> Task:
    """The snapshot of a task enqueue created (not a duplicate), from its spec."""
    raw = dict(spec.fields)  # a few values are numbers: Task's decoders take both
    raw["status"] = status
    raw["created"] = raw["updated"] = now_ms
    if spec.at_ms is not None or spec.delay_ms:
        raw["scheduled"] = str(spec.at_ms if spec.at_ms is not None else now_ms + spec.delay_ms)
    return Task(tid, raw, queue)


__all__ = ["Queue", "get_task"]


# A workflow's status derives from its steps, which are engine tasks: after a
# step changes by id, its workflow is filed under its new status (taskq.workflows.status).
def _workflow_steps(q: Queue, task_ids: list[str]) -> dict[str, str]:
    ids = [i for i in task_ids if i.startswith(q.name + ":") and "." in i]
    if not ids:
        return {}  # a step's id is <queue>:<workflow>.<step>: others need no read
    from .workflows.status import step_workflows
    try:
        return step_workflows(q.redis, q.keys, ids)
    except Exception:  # noqa: BLE001  (the sweep files it)
        return {}


def _workflow_follow_up(q: Queue, task_ids: str | list[str], steps: dict[str, str] | None = None) -> None:
    ids = [task_ids] if isinstance(task_ids, str) else [i for i in task_ids if "." in i]
    if steps is None and not any("." in i for i in ids):
        return  # not a step's id (engine.step_task_id): nothing to read
    from .workflows.status import after_tasks
    after_tasks(q.redis, q.keys, ids, steps)
