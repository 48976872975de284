"""RQ's monitoring tools, shown taskq's queues. taskq never fills RQ's queue
lists or job registries, so this queue class and its registries answer from
the taskq queues (of TASKQ_PREFIX) instead; RQ's status -> taskq's:
queued -> queued, started -> running, finished -> completed, failed ->
failed, deferred -> blocked, scheduled -> delayed, canceled -> cancelled.

    rq info --queue-class workers.rq_queue.TaskqQueue
    rq-exporter --queue-class workers.rq_queue.TaskqQueue   (or RQ_QUEUE_CLASS=...)
    rq-dashboard -c <a module calling use_in_rq_dashboard()>

The queue, its registries and its jobs are taskq.rq's (the adapter's
Queue, registries and Job); what the tools see differs only where
:class:`TaskqJobView` says. Requeue retries the task (taskq's retry); the
queue's empty and delete act on RQ's keys only, so run the dashboard with
--disable-delete.
"""

from __future__ import annotations

import contextlib

from rq.job import Job as RQJob
from rq.queue import Queue as RQQueue
from rq.utils import get_call_string

from taskq.connection import as_taskq_client
from taskq.keys import ID_SEP
from taskq.rq.job import STATUS, Job, find_task_ids
from taskq.rq.queue import _REGISTRIES, Queue
from taskq.task import Task

TASKQ_STATUS = {rq: tq for tq, rq in STATUS.items()}
"""RQ status -> taskq status."""


class TaskqJobView(Job):
    """taskq.rq's Job as rq-dashboard shows it: the full task id (queue
    included), taskq's status name, the call as taskq names it, the
    dependencies as the bytes the job page decodes; the job lists' outcome is
    the snapshot's (no read per job); ``fetch`` also takes the RQ job id an
    ``rq worker`` runs a task under (workers.rq_job)."""

    def _load(self, task: Task) -> None:
        super()._load(task)
        self.description = get_call_string(task.func, task.args, task.kwargs)

    @property
    def id(self) -> str:
        task = self.__dict__.get("_task")
        return task.id if task is not None else RQJob.id.fget(self)

    @id.setter
    def id(self, value: str) -> None:
        RQJob.id.fset(self, value)

    @classmethod
    def fetch(cls, id: str, connection=None, serializer=None, prefix: str | None = None) -> Job:
        """By task id or bare id (taskq.rq.Job.fetch), or (a worker's current
        job) by its task's RQ job id (workers.rq_job.rq_job_id)."""
        found = find_task_ids(as_taskq_client(connection), [id], prefix or cls.taskq_prefix)[0]
        if found is None and ID_SEP not in id:
            from .rq_job import task_id_of

            with contextlib.suppress(ValueError, UnicodeDecodeError):
                found = task_id_of(id) if ID_SEP in task_id_of(id) else None
        return super().fetch(found or id, connection, serializer, prefix)

    def get_status(self, refresh: bool = True) -> str:
        status = super().get_status(refresh)
        return TASKQ_STATUS.get(status, status)

    def latest_result(self, timeout: int = 0):
        if timeout or not self.enqueued:
            return super().latest_result(timeout)
        return self._latest_result()

    @property
    def dependency_ids(self) -> list[bytes]:  # the job page keeps what follows a ':'
        task = self.__dict__.get("_task")
        ids = task.dependencies if task is not None else super().dependency_ids
        return [d.encode() if isinstance(d, str) else d for d in ids]


_Started, _Finished, _Failed, _Deferred, _Scheduled, _Canceled = (_REGISTRIES[n] for n in (
    "started", "finished", "failed", "deferred", "scheduled", "canceled"))
REGISTRIES = tuple(_REGISTRIES.values())


class TaskqQueue(Queue):
    """taskq.rq's Queue for RQ's tools: lists the taskq queues (of
    TASKQ_PREFIX) with taskq's counts, registries and jobs; ``rq info``
    shows "<queued>, <running> executing, <completed> finished, <failed>
    failed"."""

    job_class = TaskqJobView
    empty, delete = RQQueue.empty, RQQueue.delete  # RQ's keys only, as before


def requeue_task(job_id: str, connection=None, serializer=None) -> None:
    """rq-dashboard's Requeue (one job, or every failed one): taskq's retry
    of a failed or cancelled task."""
    job = TaskqJobView.fetch(job_id, connection)
    job._queue.retry(job.task_id)


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
