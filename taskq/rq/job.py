"""RQ's Job, as a view of a taskq task: what an RQ app reads and does with
the job ``enqueue`` returned or ``Job.fetch`` found.

The task is the truth; a Job is a snapshot of it (``refresh()`` reads it
again, ``get_status()`` and ``latest_result()`` always do). Ids: a job's
``id`` is its task id without the queue (``default:01J..`` is ``01J..``), as
RQ ids have no queue in them; ``Job.fetch`` finds the queue (the full task
id works too). What RQ keeps in its own hashes (``job.save()``, registries)
taskq does not have: see the README's "Coming from RQ".
"""

from __future__ import annotations

import functools
from typing import Any, Iterable

from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job as RQJob, JobStatus
from rq.results import Result

from taskq.backoff import steps_of
from taskq.connection import as_taskq_client
from taskq.context import current_task
from taskq.errors import InvalidState, TaskNotFound, TaskqValueError
from taskq.keys import DEFAULT_PREFIX, ID_SEP, Keys
from taskq.maintenance import queue_names
from taskq.options import storable_text
from taskq.queue import Queue as TaskqQueue
from taskq.task import Task

STATUS = {
    "queued": JobStatus.QUEUED,
    "delayed": JobStatus.SCHEDULED,
    "blocked": JobStatus.DEFERRED,
    "running": JobStatus.STARTED,
    "completed": JobStatus.FINISHED,
    "failed": JobStatus.FAILED,
    "cancelled": JobStatus.CANCELED,
}
"""taskq status -> RQ status. A retry waiting out its backoff is 'delayed'
in taskq and SCHEDULED in RQ, as RQ's own retries with an interval are."""


def local_id(task_id: str) -> str:
    """The RQ id of a task: its id without the queue."""
    return task_id.partition(ID_SEP)[2] or task_id


def find_task_ids(client, ids: list[str], prefix: str = DEFAULT_PREFIX,
                  prefer: str | None = None) -> list[str | None]:
    """The task ids of RQ ids (or task ids): an id with a queue is taken as
    is; a bare one is looked for in every queue, in one pipeline. The same
    bare id in several queues: queue ``prefer``'s task when it has one (the
    caller's own queue), else the first queue's by name."""
    keys = Keys(prefix)
    for i in ids:
        if not isinstance(i, str):
            raise TypeError(f"a job id is a string, not {type(i).__name__}")
    ids = [i if storable_text(i) else "" for i in ids]  # no task has an id Redis cannot store
    bare = [i for i in ids if i and ID_SEP not in i]
    found: dict[str, str] = {}
    if bare:
        queues = sorted(queue_names(client, keys), key=lambda q: (q != prefer, q))
        pipe = client.pipeline(transaction=False)
        pairs = [(i, q) for i in bare for q in queues]
        for i, q in pairs:
            pipe.exists(keys.queue(q).task(f"{q}{ID_SEP}{i}"))
        for (i, q), hit in zip(pairs, pipe.execute() if pairs else []):
            if hit and i not in found:
                found[i] = f"{q}{ID_SEP}{i}"
    return [i if ID_SEP in i else found.get(i) for i in ids]


SAVES_RQ_HASH = ("save", "save_meta")
"""RQ's methods that store a not yet enqueued job in RQ's hash."""


def until_enqueued(method):
    """RQ's own method while the job is not a task yet (made by
    ``Job.create``, perhaps saved the RQ way): RQ's create-save-enqueue
    pattern works; once enqueued, the task answers."""
    rq_method = getattr(RQJob, method.__name__)

    @functools.wraps(method)
    def wrapper(self, *args: Any, **kwargs: Any):
        if getattr(self, "task_id", None) is None:
            if method.__name__ in SAVES_RQ_HASH:  # stored the RQ way now: enqueue_job must look
                self.taskq_fresh = False
            return rq_method(self, *args, **kwargs)
        return method(self, *args, **kwargs)

    return wrapper


class Job(RQJob):
    """A taskq task seen as an RQ job (``taskq.rq.Job``)."""

    taskq_prefix = DEFAULT_PREFIX
    taskq_fresh = False
    """True for a job taskq.rq.Queue.create_job built in memory, not stored
    the RQ way: its enqueue need not look for RQ's hash (taskq.rq.hand_over)."""

    @classmethod
    def from_task(cls, task: Task, connection, prefix: str | None = None) -> "Job":
        job = cls(connection=connection)
        job.taskq_prefix = prefix or cls.taskq_prefix
        job._load(task)
        return job

    def _load(self, task: Task) -> None:
        self.task_id = task.id
        self._id = local_id(task.id)
        self.origin = task.queue
        self._func_name = (task.func or "").replace(":", ".") or None
        self._instance = None
        self._args = tuple(task.args)
        self._kwargs = dict(task.kwargs)
        self.meta = dict(task.meta) if isinstance(task.meta, dict) else {}
        self.description = task.description
        self.created_at = self.enqueued_at = task.created_at
        self.started_at = task.started_at
        self.ended_at = task.finished_at
        self.timeout = task.timeout
        keep = task.raw.get("keep_completed_ms")
        self.result_ttl = None if keep is None else int(float(keep)) // 1000
        keep = task.raw.get("keep_failed_ms")
        self.failure_ttl = None if keep is None else int(float(keep)) // 1000
        self.worker_name = task.worker
        self.last_heartbeat = task.leased_at
        self._status = STATUS.get(task.status, JobStatus.CREATED)
        self._result = task.result if task.status == "completed" else None
        self._exc_info = task.error if task.status in ("failed", "cancelled") else None
        self._dependency_ids = [local_id(d) for d in task.dependencies]
        self.allow_dependency_failures = task.dependency_policy == "release"
        self.retries_left = max(0, task.max_retries - task.retries)
        steps = steps_of(task.backoff)
        self.retry_intervals = ([s // 1000 for s in steps] if steps is not None
                                else [int(task.backoff_base)] if task.backoff == "fixed" else None)
        self._success_callback_name = task.on_success
        self._failure_callback_name = task.on_failure
        self._task = task

    # -- reading ---------------------------------------------------------------
    @property
    def _queue(self) -> TaskqQueue:
        return TaskqQueue(self.origin, redis=as_taskq_client(self.connection), prefix=self.taskq_prefix)

    @classmethod
    def fetch(cls, id: str, connection=None, serializer=None, prefix: str | None = None) -> "Job":
        """The job of an id. A bare RQ id that several queues have names the
        first of them by queue name: give the task id (``queue:id``), or use
        that queue's ``Queue.fetch_job``, to choose."""
        job = cls.fetch_many([id], connection, prefix=prefix)[0]
        if job is None:
            raise NoSuchJobError(f"No such job: {id}")
        return job

    @classmethod
    def fetch_many(cls, job_ids: Iterable[str], connection=None, serializer=None,
                   prefix: str | None = None) -> list:
        """Jobs by id (None for an id not found), in two round trips."""
        prefix = prefix or cls.taskq_prefix
        ids = list(job_ids)
        client = as_taskq_client(connection)
        task_ids = find_task_ids(client, ids, prefix)
        keys = Keys(prefix)
        pipe = client.pipeline(transaction=False)
        wanted = [t for t in task_ids if t]
        for t in wanted:
            pipe.hgetall(keys.queue(t.partition(ID_SEP)[0]).task(t))
        hashes = dict(zip(wanted, pipe.execute() if wanted else []))
        out = []
        for job_id, t in zip(ids, task_ids):
            raw = hashes.get(t) if t else None
            if raw:
                out.append(cls.from_task(Task.from_hash(t, raw), connection, prefix))
            else:  # not a task (yet): a job saved the RQ way, before its enqueue_job
                out.append(cls._saved_by_rq(job_id, connection))
        return out

    @classmethod
    def _saved_by_rq(cls, job_id: str, connection) -> "Job | None":
        if ID_SEP in job_id or not storable_text(job_id):
            return None
        try:
            job = cls(job_id, connection=connection)  # RQ's id check: a bad id names no job
            RQJob.refresh(job)
        except Exception:  # noqa: BLE001  (no such hash, or not one a decoding client can read)
            return None
        return job

    @classmethod
    def exists(cls, job_id: str, connection=None, prefix: str | None = None) -> bool:
        client = as_taskq_client(connection)
        return find_task_ids(client, [job_id], prefix or cls.taskq_prefix)[0] is not None

    @until_enqueued
    def refresh(self) -> None:
        task = self._queue.get(self.task_id)
        if task is None:
            raise NoSuchJobError(f"No such job: {self._id}")
        self._load(task)

    @until_enqueued
    def get_status(self, refresh: bool = True) -> JobStatus:
        if refresh:
            raw = self._queue.redis.hget(self._queue.qkeys.task(self.task_id), "status")
            if raw is None:
                raise InvalidJobOperation(f"job {self._id} no longer exists")
            self._status = STATUS.get(raw, JobStatus.CREATED)
        return self._status

    @until_enqueued
    def get_meta(self, refresh: bool = True) -> dict:
        if refresh:
            self.refresh()
        return self.meta

    @property
    def exc_info(self) -> str | None:
        return self._exc_info

    def return_value(self, refresh: bool = False) -> Any:
        """The result, read again when asked or when this snapshot has none
        yet (as RQ fetches the latest result); None before it finishes."""
        if not self.enqueued:
            return None
        if refresh or self._result is None:
            self.refresh()
        return self._result

    @property
    def enqueued(self) -> bool:
        """Whether this job is a task (Job.create() makes one in memory only)."""
        return getattr(self, "task_id", None) is not None

    @property
    def result(self) -> Any:
        return self.return_value(refresh=True)

    @until_enqueued
    def latest_result(self, timeout: int = 0) -> Result | None:
        """The outcome of the job's last finished run: SUCCESSFUL with its
        return value, or FAILED with the error. With ``timeout``, waits that
        long for it (pushed, not polled: taskq.waiting)."""
        if timeout:
            try:
                self._queue.result(self.task_id, timeout=timeout)
            except Exception:  # noqa: BLE001  (failed, cancelled or not yet: read what is there)
                pass
        self.refresh()
        return self._latest_result()

    def _latest_result(self) -> Result | None:
        """:meth:`latest_result` of this snapshot, read no further."""
        if self._status == JobStatus.FINISHED:
            kind, value, error = Result.Type.SUCCESSFUL, self._result, None
        elif self._status in (JobStatus.FAILED, JobStatus.CANCELED) and self._exc_info:
            kind, value, error = Result.Type.FAILED, None, self._exc_info
        else:
            return None
        return Result(self._id, kind, self.connection, id=self.task_id, created_at=self.ended_at,
                      return_value=value, exc_string=error, worker_name=self.worker_name)

    @until_enqueued
    def results(self) -> list[Result]:
        latest = self.latest_result()
        return [latest] if latest else []

    @property
    def dependency_ids(self) -> list[str]:
        return list(self._dependency_ids)

    @until_enqueued
    def fetch_dependencies(self, watch: bool = False, pipeline=None) -> list["Job"]:
        deps = self._task.dependencies
        return [j for j in type(self).fetch_many(deps, self.connection, prefix=self.taskq_prefix)
                if j is not None]

    @until_enqueued
    def dependencies_are_met(self, *args: Any, **kwargs: Any) -> bool:
        done = {JobStatus.FINISHED}
        if self.allow_dependency_failures:
            done |= {JobStatus.FAILED, JobStatus.CANCELED}
        return all(j.get_status(refresh=False) in done for j in self.fetch_dependencies())

    # -- changing ----------------------------------------------------------------
    @until_enqueued
    def save_meta(self) -> None:
        """Store ``meta``: from inside the running job, fenced by its lease;
        before it starts, through Queue.update; a finished job's meta is
        final (InvalidJobOperation)."""
        if not isinstance(self.meta, dict):
            raise TaskqValueError("meta must be a dict")
        ctx = current_task()
        if ctx is not None and ctx.id == self.task_id:
            ctx.lease.save_meta(self.meta)
            return
        meta = dict(self.meta)

        def changes(current: dict) -> dict:  # Queue.update merges: a key gone from meta is None
            return {**{k: None for k in current if k not in meta}, **meta}

        try:  # one read of meta, merged under the update's version check (and retried)
            self._queue.update(self.task_id, meta=changes)
        except TaskNotFound:
            raise NoSuchJobError(f"No such job: {self._id}") from None
        except InvalidState as exc:
            raise InvalidJobOperation(f"job {self._id}: {exc}") from None

    @until_enqueued
    def save(self, pipeline=None, include_meta: bool = True, include_result: bool = True) -> None:
        """taskq writes a task only through its transitions: save() stores
        ``meta`` (all a caller may change), as :meth:`save_meta`. A job made
        with ``Job.create`` and not enqueued yet is saved as RQ saves it, so
        RQ's create-save-``enqueue_job`` pattern works (enqueue_job then
        makes the task and deletes RQ's copy)."""
        if include_meta:
            self.save_meta()

    @until_enqueued
    def cancel(self, pipeline=None, enqueue_dependents: bool = False, remove_from_dependencies: bool = False) -> None:
        """One script call: its reply (or refusal) says the status."""
        try:
            status = self._queue.cancel(self.task_id, reason="cancelled (RQ API)")
        except TaskNotFound:
            raise InvalidJobOperation(f"job {self._id} no longer exists") from None
        except InvalidState as exc:
            if exc.status == "cancelled":
                raise InvalidJobOperation(f"Cannot cancel already canceled job: {self._id}") from None
            raise InvalidJobOperation(f"job {self._id}: {exc}") from None
        # a running task asked to stop ('cancel_requested') is still running
        self._status = JobStatus.CANCELED if status == "cancelled" else JobStatus.STARTED

    @until_enqueued
    def requeue(self, at_front: bool = False) -> "Job":
        try:
            self._queue.retry(self.task_id)
        except InvalidState as exc:
            raise InvalidJobOperation(f"job {self._id}: {exc}") from None
        self.refresh()
        return self

    @until_enqueued
    def delete(self, pipeline=None, remove_from_queue: bool = True, delete_dependents: bool = False) -> None:
        try:
            self._queue.delete(self.task_id, force=True)
        except TaskNotFound:
            pass

    @until_enqueued
    def set_status(self, status, pipeline=None) -> None:
        raise InvalidJobOperation("a taskq task's status changes only by its transitions "
                                  "(enqueue, a worker, cancel, requeue)")

    def __repr__(self) -> str:
        return f"Job('{self._id}', origin={self.origin!r}, status={self._status.value!r})"


def get_current_job(connection=None, job_class=None) -> Job | None:
    """The job of the task this thread or coroutine runs, else None."""
    ctx = current_task()
    if ctx is None:
        return None
    return Job.from_task(ctx.lease.task, connection or ctx.lease.client, ctx.lease.keys.prefix)


def cancel_job(job_id: str, connection, serializer=None, enqueue_dependents: bool = False) -> None:
    Job.fetch(job_id, connection).cancel()


def requeue_job(job_id: str, connection, serializer=None) -> Job:
    return Job.fetch(job_id, connection).requeue()
