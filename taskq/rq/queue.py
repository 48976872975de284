"""RQ's Queue over taskq: ``from taskq.rq import Queue`` and an RQ
producer's ``enqueue`` calls create taskq tasks.

RQ builds the job in memory exactly as it always does (argument parsing,
``job_timeout``, ``Retry``, ``Dependency``, callbacks, ``job_id`` checks);
:meth:`Queue.enqueue_job`, where every RQ enqueue path ends (and where
rq-scheduler hands over a due job), turns that job into one taskq task
(taskq.rq.convert) and returns a :class:`taskq.rq.Job` view of it. Reading
the queue (``count``, ``job_ids``, ``jobs``, the registries) reads taskq's
indexes. Each place where RQ's meaning and taskq's differ is in the
README's "Coming from RQ".
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable

from rq.exceptions import DuplicateJobError
from rq.job import Dependency, JobStatus
from rq.queue import Queue as RQQueue
from rq.utils import import_attribute
from rq.registry import (CanceledJobRegistry, DeferredJobRegistry, FailedJobRegistry,
                         FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry)

from taskq.connection import as_taskq_client
from taskq.errors import TaskExists
from taskq.keys import DEFAULT_PREFIX, ID_SEP, Keys
from taskq.maintenance import queue_names
from taskq.options import MAX_JSON_DEPTH, InvalidField, build_spec, json_text, storable_text

from taskq.queue import MAX_PAGE, Queue as TaskqQueue

from . import hand_over
from .convert import RefusedOption, options_of
from .job import STATUS, Job, local_id


def ids_of(q: TaskqQueue, status: str, offset: int = 0, length: int = -1,
           newest_first: bool = False) -> list[str]:
    """Task ids of one status, ``length`` of them (-1: all), a page at a time."""
    out: list[str] = []
    while length < 0 or len(out) < length:
        want = MAX_PAGE if length < 0 else min(MAX_PAGE, length - len(out))
        page = q.list_ids(status, offset=offset + len(out), limit=want, newest_first=newest_first)
        out += page
        if len(page) < want:
            break
    return out


def _counted(base: type, status: str) -> type:
    """An RQ registry class whose count, and job ids, are taskq's for ``status``:
    a queue's registry property makes one, and so may a tool by queue name
    (rq-dashboard: ``FailedJobRegistry(name, connection=...)``; the prefix is
    then its job class's, TASKQ_PREFIX for RQ's)."""

    class Counted(base):
        def __init__(self, *args, queue=None, **kwargs):
            super().__init__(*args, queue=queue, **kwargs)
            self.taskq = getattr(queue, "taskq", None) or TaskqQueue(
                self.name, redis=as_taskq_client(self.connection),
                prefix=getattr(self.job_class, "taskq_prefix", None))

        def get_job_count(self, cleanup: bool = True) -> int:
            return self.taskq.count(status)

        @property
        def count(self) -> int:
            return self.get_job_count()

        def __len__(self) -> int:
            return self.count

        def get_job_ids(self, start: int = 0, end: int = -1, desc: bool = False, cleanup: bool = True):
            length = -1 if end < 0 else end - start + 1
            return [local_id(i) for i in ids_of(self.taskq, status, start, length, desc)]

    Counted.__name__ = Counted.__qualname__ = f"Taskq{base.__name__}"
    return Counted


_REGISTRIES = {name: _counted(base, status) for name, base, status in (
    ("started", StartedJobRegistry, "running"),
    ("finished", FinishedJobRegistry, "completed"),
    ("failed", FailedJobRegistry, "failed"),
    ("deferred", DeferredJobRegistry, "blocked"),
    ("scheduled", ScheduledJobRegistry, "delayed"),
    ("canceled", CanceledJobRegistry, "cancelled"),
)}


class Queue(RQQueue):
    """An RQ Queue whose jobs are taskq tasks of the taskq queue of the same
    name (key prefix: ``prefix``, else TASKQ_PREFIX)."""

    job_class = Job

    def __init__(self, name: str = "default", connection=None, default_timeout=None,
                 is_async: bool = True, job_class=None, serializer=None, prefix: str | None = None,
                 **kwargs: Any):
        if not is_async or kwargs.get("async") is False:
            raise RefusedOption("is_async=False (run jobs in the caller) is not offered: a taskq "
                                "task always runs in a worker; tests can run one with "
                                "`taskq worker --burst` or workers.pool.PoolWorker")
        super().__init__(name, connection=connection, default_timeout=default_timeout,
                         serializer=serializer, **kwargs)
        # views: a subclass of taskq.rq.Job if given; RQ's own Job (rq-scheduler passes it) is not one
        if isinstance(job_class, str):
            job_class = import_attribute(job_class)
        default = type(self).job_class
        self.job_class = job_class if isinstance(job_class, type) and issubclass(job_class, default) \
            else default
        self.taskq = TaskqQueue(name, redis=as_taskq_client(connection), prefix=prefix)
        self.prefix = self.taskq.keys.prefix

    @classmethod
    def all(cls, connection=None, job_class=None, serializer=None, death_penalty_class=None,
            prefix: str | None = None) -> list["Queue"]:
        names = queue_names(connection, Keys(prefix or DEFAULT_PREFIX))
        return [cls(n, connection=connection, job_class=job_class, serializer=serializer,
                    prefix=prefix) for n in names]

    # -- enqueueing ----------------------------------------------------------------
    def create_job(self, func, args=None, kwargs=None, *a: Any, depends_on=None, **kw: Any):
        try:
            job = super().create_job(func, args, kwargs, *a, depends_on=_by_task_id(depends_on), **kw)
        except RecursionError:  # RQ's description repr()s the arguments: say which nest too deep
            json_text("args", list(args or ()))
            json_text("kwargs", dict(kwargs or {}))
            raise InvalidField("args", f"nests deeper than {MAX_JSON_DEPTH} levels of arrays "
                                       "and objects") from None
        job.taskq_fresh = True  # built here, in memory: its enqueue need not look for RQ's hash
        return job

    def enqueue_job(self, job, pipeline=None, at_front: bool = False, unique: bool = False) -> Job:
        """Create the task of an RQ job; return its view. An id that exists
        already returns that task (``unique=True``: DuplicateJobError), so a
        job handed over twice (two schedulers) runs once."""
        _no_pipeline(pipeline)
        return self._enqueue(job, at_front=at_front, unique=unique)

    def schedule_job(self, job, datetime: datetime, pipeline=None, unique: bool = False) -> Job:
        _no_pipeline(pipeline)
        return self._enqueue(job, at=datetime, unique=unique)

    def enqueue_many(self, job_datas: Iterable, pipeline=None, group_id: str | None = None) -> list[Job]:
        """The jobs of ``Queue.prepare_data`` items, created in one script call."""
        _no_pipeline(pipeline)
        if group_id is not None:
            raise RefusedOption("enqueue_many(group_id=) is not offered: taskq's workflows group tasks")
        specs = []
        for d in job_datas:
            job = self.create_job(d.func, args=d.args, kwargs=d.kwargs, timeout=d.timeout,
                                  result_ttl=d.result_ttl, ttl=d.ttl, failure_ttl=d.failure_ttl,
                                  description=d.description, depends_on=d.depends_on,
                                  job_id=d.job_id, meta=d.meta, retry=d.retry, repeat=d.repeat,
                                  on_success=d.on_success, on_failure=d.on_failure,
                                  on_stopped=d.on_stopped, webhooks=d.webhooks)
            specs.append(self._spec(job, at_front=d.at_front))
        tasks = self.taskq.enqueue_specs(specs)
        return [self.job_class.from_task(t, self.connection, self.prefix) for t in tasks]

    def _spec(self, job, at_front: bool = False, at: datetime | None = None,
              task_id: str | None = None):
        func, args, kwargs, options = options_of(job, self, at_front=at_front)
        if task_id is not None:
            options["task_id"] = task_id
        if at is not None:
            options["scheduled_at"] = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        return build_spec(self.name, func, args, kwargs, **options)

    def _enqueue(self, job, at_front: bool = False, at: datetime | None = None,
                 unique: bool = False) -> Job | None:
        if unique and not job._id:
            raise ValueError("unique=True requires an explicit job_id")
        task_id = None
        rq_stored = hand_over.handed_over(job)  # no Redis read for a job of create_job
        if rq_stored:  # from rq-scheduler (or RQ's own Job.create().save())
            task_id = hand_over.run_id(job)
            if task_id is None:
                return None  # another scheduler moved this run already
        spec = self._spec(job, at_front=at_front, at=at, task_id=task_id)
        try:
            task = self.taskq.enqueue_specs([spec])[0]
        except TaskExists:
            if unique:
                raise DuplicateJobError(f"Job with ID '{job._id}' already exists") from None
            task = self.taskq.get(spec.id)
            if task is None:  # removed in between: say so rather than guess
                raise
        if rq_stored:
            hand_over.after_hand_over(job)
        if isinstance(job, Job):  # RQ's enqueue_job updates the job it was given
            job.taskq_prefix = self.prefix
            job._load(task)
            return job
        job.origin, job.enqueued_at, job._status = task.queue, task.created_at, STATUS[task.status]
        return self.job_class.from_task(task, self.connection, self.prefix)

    # -- reading ---------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Jobs waiting to start (taskq: queued)."""
        return self.taskq.count("queued")

    def __len__(self) -> int:
        return self.count

    def is_empty(self) -> bool:
        return self.count == 0

    def counts(self) -> dict[str, int]:
        return self.taskq.counts()

    def get_job_ids(self, offset: int = 0, length: int = -1) -> list[str]:
        """Queued jobs' ids, next to run first."""
        return [local_id(i) for i in ids_of(self.taskq, "queued", offset, length)]

    def get_jobs(self, offset: int = 0, length: int = -1) -> list[Job]:
        ids = self._task_ids(self.get_job_ids(offset, length))
        return [j for j in self.job_class.fetch_many(ids, self.connection, prefix=self.prefix)
                if j is not None]

    def _task_ids(self, ids: list[str]) -> list[str]:
        return [f"{self.name}:{i}" for i in ids]

    @property
    def job_ids(self) -> list[str]:
        return self.get_job_ids()

    @property
    def jobs(self) -> list[Job]:
        return self.get_jobs()

    def fetch_job(self, job_id: str) -> Job | None:
        task = self.taskq.get(job_id if ":" in job_id else f"{self.name}:{job_id}")
        return self.job_class.from_task(task, self.connection, self.prefix) if task else None

    def get_job_position(self, job_or_id) -> int | None:
        """0-based place in run order (the queued index's rank: one ZRANK)."""
        job_id = getattr(job_or_id, "id", job_or_id)
        if not isinstance(job_id, str) or not storable_text(job_id):
            return None
        index = self.taskq.qkeys.status_index("queued")
        return self.taskq.redis.zrank(index, f"{self.name}{ID_SEP}{job_id}")

    def remove(self, job_or_id, pipeline=None) -> None:
        """Cancel a queued job (taskq keeps it, cancelled, as its retention says)."""
        job_id = getattr(job_or_id, "id", job_or_id)
        self.taskq.cancel(f"{self.name}:{job_id}", reason="removed from its queue (RQ API)")

    def empty(self) -> int:
        """Delete every queued job, as RQ does; returns how many: taskq's
        delete script for each, MAX_PAGE of them per pipeline."""
        ids = ids_of(self.taskq, "queued")
        return sum(self.taskq.delete_many(ids[i:i + MAX_PAGE], force=True)
                   for i in range(0, len(ids), MAX_PAGE))

    def delete(self, delete_jobs: bool = True) -> None:
        """Delete the queue and every task of it (taskq's Queue.purge)."""
        self.taskq.purge()

    def _registry(self, name: str):
        return _REGISTRIES[name](queue=self, job_class=self.job_class, serializer=self.serializer)

    started_job_registry = property(lambda self: self._registry("started"))
    finished_job_registry = property(lambda self: self._registry("finished"))
    failed_job_registry = property(lambda self: self._registry("failed"))
    deferred_job_registry = property(lambda self: self._registry("deferred"))
    scheduled_job_registry = property(lambda self: self._registry("scheduled"))
    canceled_job_registry = property(lambda self: self._registry("canceled"))




def _no_pipeline(pipeline: Any) -> None:
    if pipeline is not None:
        raise RefusedOption("pipeline= is not offered: a taskq enqueue is one atomic script call "
                            "of its own and cannot join a caller's MULTI")


def _by_task_id(depends_on: Any) -> Any:
    """RQ's depends_on with each taskq.rq.Job replaced by its task id, so a
    dependency names its queue (a Job's ``id`` has none)."""
    if depends_on is None:
        return None
    if isinstance(depends_on, Dependency):
        return Dependency(_by_task_id(list(depends_on.dependencies)),
                          allow_failure=depends_on.allow_failure,
                          enqueue_at_front=depends_on.enqueue_at_front)
    if isinstance(depends_on, Job):
        return depends_on.task_id if depends_on.enqueued else depends_on.id
    if isinstance(depends_on, (list, tuple)):
        return [_by_task_id(d) for d in depends_on]
    return depends_on


__all__ = ["Queue", "JobStatus"]
