"""rq-scheduler's jobs, run as taskq tasks when due.

rq-scheduler (the real package) keeps scheduled jobs in its own sorted set
and RQ job hashes; when one is due, the process that moves it calls
``queue.enqueue_job(job)`` on the job's queue class. With
``queue_class="taskq.rq.Queue"`` that creates the taskq task
(taskq.rq.queue). Either process may move them:

- the real ``rqscheduler`` (``rqscheduler --queue-class taskq.rq.Queue``, or
  any rqscheduler for jobs scheduled through :class:`Scheduler`, which
  records the queue class in each job);
- ``taskq scheduler --rq-scheduler`` (or TASKQ_RQ_SCHEDULER=1): its leader
  moves them each second (:meth:`Mover.upkeep`).

Exactly once, however many of either run: they share rq-scheduler's own
lock, and a run's task id is fixed by the job (a one-off job's task is
``<queue>:<job id>``; each run of a repeating one is
``<queue>:<job id>-<due epoch seconds>``), so a job handed over twice makes
one task.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from rq_scheduler import Scheduler as RQScheduler

from taskq.cluster import is_cluster
from taskq.connection import pool_like
from taskq.errors import TaskqValueError
from taskq.options import build_spec

from .convert import options_of

log = logging.getLogger("taskq.scheduler")

QUEUE_CLASS = "taskq.rq.Queue"


class Scheduler(RQScheduler):
    """rq-scheduler's Scheduler, its jobs bound for taskq: ``from taskq.rq
    import Scheduler`` where an app had ``from rq_scheduler import
    Scheduler``. A job taskq could not run (arguments JSON cannot carry, an
    option taskq refuses) is refused when scheduled, not when due."""

    def __init__(self, queue_name: str = "default", queue: Any = None, interval: float = 60,
                 connection: Any = None, job_class: Any = None, queue_class: Any = QUEUE_CLASS,
                 name: str | None = None):
        super().__init__(queue_name, queue, interval, connection, job_class, queue_class, name)

    def _create_job(self, func, args=None, kwargs=None, commit=True, **options: Any):
        job = super()._create_job(func, args=args, kwargs=kwargs, commit=False, **options)
        check(job)
        if commit:
            job.save()
        return job


def check(job: Any) -> None:
    """Raise TaskqValueError where taskq could not create the job's task."""
    func, args, kwargs, options = options_of(job, None, resolve_dependencies=False)
    build_spec(job.origin or "default", func, args, kwargs, **options)


def raw_client(client: Any) -> redis.Redis:
    """A client that does not decode (rq-scheduler reads pickles), to the
    same server as ``client``, over a pool like its own (taskq.connection)."""
    return redis.Redis(connection_pool=pool_like(client.connection_pool, decode=False))


class Mover:
    """``taskq scheduler --rq-scheduler``: moves rq-scheduler's due jobs into
    taskq under rq-scheduler's lock. A job that cannot become a task (it
    was scheduled without taskq's checks) is logged and unscheduled, so it
    does not fail every second."""

    def __init__(self, client: Any):
        if is_cluster(client):
            raise TaskqValueError("rq-scheduler's jobs cannot be moved on a Redis Cluster: "
                                  "rq-scheduler keeps them on one Redis")
        self.scheduler = Scheduler(connection=raw_client(client), interval=1)
        self.scheduler.queue_class = _queue_class()

    def upkeep(self, *_: Any) -> int:
        s = self.scheduler
        if not s.acquire_lock():
            return 0
        moved = 0
        try:
            for job in s.get_jobs_to_queue():
                try:
                    s.enqueue_job(job)
                    moved += 1
                except redis.RedisError:
                    raise  # Redis unreachable or full: the job is fine, moved at a later upkeep
                except TaskqValueError as exc:
                    log.error("rq-scheduler job %s cannot become a taskq task, unscheduled: %s",
                              job.id, exc)
                    s.cancel(job)
                except Exception:  # noqa: BLE001  (one bad job must not block those behind it)
                    log.exception("rq-scheduler job %s failed to become a taskq task, unscheduled",
                                  job.id)
                    s.cancel(job)
        finally:
            s.remove_lock()
        return moved


def _queue_class():
    from .queue import Queue  # the adapter's Queue imports this module's hand-over protocol

    return Queue
