"""RQ's monitoring tools, shown taskq's queues. taskq never fills RQ's queue
lists or job registries, so this queue class and its registries answer from
the taskq queues (of TASKQ_PREFIX) instead; RQ's status -> taskq's:
queued -> queued, started -> running, finished -> completed, failed ->
failed, deferred -> blocked, scheduled -> delayed, canceled -> cancelled.

    rq info --queue-class workers.rq_queue.TaskqQueue
    rq-exporter --queue-class workers.rq_queue.TaskqQueue   (or RQ_QUEUE_CLASS=...)
    rq-dashboard -c <a module calling use_in_rq_dashboard()>

Requeue retries the task (taskq's retry); empty and delete act on RQ's keys
only, so run the dashboard with --disable-delete.
"""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

from rq.exceptions import NoSuchJobError
from rq.queue import Queue as RQQueue
from rq.registry import (CanceledJobRegistry, DeferredJobRegistry, FailedJobRegistry,
                         FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry)
from rq.utils import get_call_string

from taskq import Keys
from taskq.keys import DEFAULT_PREFIX
from taskq.queue import Queue as TaskqQueueAPI, get_task


def _taskq(name: str, connection) -> TaskqQueueAPI:
    return TaskqQueueAPI(name, redis=connection)


def _ids(name: str, connection, status: str, start: int, end: int, desc: bool = False) -> list:
    """Ids in a taskq status index, by rank as RQ pages a registry (inclusive end)."""
    tq = _taskq(name, connection)
    return tq.redis.zrange(tq.qkeys.status_index(status), start, end, desc=desc)


def _counted(base: type, status: str) -> type:
    class Counted(base):
        """An RQ registry whose count and ids are the taskq status index's:
        the tools call get_job_count / get_job_ids (``count`` calls the former)."""

        def get_job_count(self, cleanup=True) -> int:
            return _taskq(self.name, self.connection).count(status)

        def get_job_ids(self, start=0, end=-1, desc=False, cleanup=True) -> list:
            return _ids(self.name, self.connection, status, start, end, desc)

    Counted.__name__ = Counted.__qualname__ = f"Taskq{base.__name__}"
    return Counted


_Started = _counted(StartedJobRegistry, "running")
_Finished = _counted(FinishedJobRegistry, "completed")
_Failed = _counted(FailedJobRegistry, "failed")
_Deferred = _counted(DeferredJobRegistry, "blocked")
_Scheduled = _counted(ScheduledJobRegistry, "delayed")
_Canceled = _counted(CanceledJobRegistry, "cancelled")
REGISTRIES = (_Started, _Finished, _Failed, _Deferred, _Scheduled, _Canceled)


class TaskqJobView:
    """What rq-dashboard reads of a job (job lists and the job page), taken
    from a taskq task: taskq's task id, status, call, times, result, error."""

    def __init__(self, task) -> None:
        self._task = task
        self.id, self.origin = task.id, task.queue
        self.created_at = self.enqueued_at = task.created_at
        self.started_at, self.ended_at = task.started_at, task.finished_at
        self.func_name, self.args, self.kwargs = task.func, task.args, task.kwargs
        self.description = get_call_string(task.func, task.args, task.kwargs)
        self.dependency_ids: list[bytes] = []  # the job page keeps what follows a ':' only

    @classmethod
    def fetch(cls, id: str, connection=None, serializer=None) -> TaskqJobView:
        """By task id, or (a worker's current job) by its task's RQ job id."""
        task = get_task(id, redis=connection)
        if task is None and ":" not in id:
            from .rq_job import task_id_of

            with contextlib.suppress(ValueError):
                task = get_task(task_id_of(id), redis=connection)
        if task is None:
            raise NoSuchJobError(f"no taskq task {id}")
        return cls(task)

    def get_status(self, refresh: bool = True) -> str:
        return self._task.status

    def return_value(self, refresh: bool = False):
        return self._task.result

    def latest_result(self, timeout: int = 0):
        error = self._task.error
        return SimpleNamespace(exc_string=error) if error else None

    def get_meta(self, refresh: bool = True) -> dict:
        return self._task.meta


def _registry(cls: type) -> property:
    return property(lambda self: cls(queue=self, job_class=self.job_class,
                                     serializer=self.serializer))


class TaskqQueue(RQQueue):
    """An RQ queue class that lists the taskq queues (of TASKQ_PREFIX) with
    taskq's counts and task ids; ``rq info`` shows "<queued>, <running>
    executing, <completed> finished, <failed> failed"."""

    started_job_registry = _registry(_Started)
    finished_job_registry = _registry(_Finished)
    failed_job_registry = _registry(_Failed)
    deferred_job_registry = _registry(_Deferred)
    scheduled_job_registry = _registry(_Scheduled)
    canceled_job_registry = _registry(_Canceled)

    @classmethod
    def all(cls, connection=None, job_class=None, serializer=None, death_penalty_class=None):
        names = sorted(n.decode() if isinstance(n, bytes) else n
                       for n in connection.smembers(Keys(DEFAULT_PREFIX).queues))
        return [cls(n, connection=connection, job_class=job_class, serializer=serializer)
                for n in names]

    def counts(self) -> dict[str, int]:
        return _taskq(self.name, self.connection).counts()

    @property
    def count(self) -> int:
        return _taskq(self.name, self.connection).count("queued")

    def get_job_ids(self, offset: int = 0, length: int = -1) -> list[str]:
        """Queued task ids in run order (RQ's offset / length)."""
        end = offset + length - 1 if length >= 0 else length
        return _ids(self.name, self.connection, "queued", offset, end)

    def fetch_job(self, job_id: str) -> TaskqJobView | None:
        with contextlib.suppress(NoSuchJobError):
            return TaskqJobView.fetch(job_id, self.connection)
        return None


def requeue_task(job_id: str, connection=None, serializer=None) -> None:
    """rq-dashboard's Requeue (one job, or every failed one): taskq's retry
    of a failed or cancelled task."""
    task = TaskqJobView.fetch(job_id, connection)._task
    _taskq(task.queue, connection).retry(task.id)


def use_in_rq_dashboard() -> None:
    """rq-dashboard has no queue-class setting: its views call ``Queue.all``,
    build the six registries by queue name and call ``Job.fetch`` through names
    imported into ``rq_dashboard.web``. Point those names at the classes here.
    Call it from the module given to ``rq-dashboard -c`` (imported before any
    request), or before registering its blueprint in an app of your own."""
    import rq_dashboard.web as web

    web.Queue, web.Job, web.requeue_job = TaskqQueue, TaskqJobView, requeue_task
    for cls in REGISTRIES:
        setattr(web, cls.__mro__[1].__name__, cls)
