"""How a stored RQ job becomes a taskq task, exactly once: the protocol
between whoever hands a job over (rq-scheduler, taskq.rq.scheduler) and the
adapter's ``Queue.enqueue_job`` (taskq.rq.queue), kept apart so neither of
those modules imports the other."""

from __future__ import annotations

import time
from typing import Any

from rq.job import Job as RQJob
from rq_scheduler import Scheduler as RQScheduler

from .job import Job as View

REPEATING = ("interval", "cron_string")
"""rq-scheduler's meta keys of a job that runs more than once."""


def run_id(job: Any) -> str | None:
    """The id of this hand-over's task: the job's id, or for a repeating job
    its id and due time; None when another scheduler moved it already (a
    repeating job due later than now)."""
    if not any(k in job.meta for k in REPEATING):
        return job.id
    due = job.connection.zscore(RQScheduler.scheduled_jobs_key, job.id)
    if due is None or due > time.time() + 1:
        return None
    return f"{job.id}-{int(due)}"


def handed_over(job: Any) -> bool:
    """A job stored in RQ's hash (rq-scheduler's jobs, or
    ``Job.create(...).save()``), not yet a task. A job taskq.rq.Queue's
    create_job built (``taskq_fresh``) is not: no EXISTS for it."""
    if isinstance(job, View) and (job.enqueued or job.taskq_fresh):
        return False
    return job._id is not None and bool(job.connection.exists(job.key))


def after_hand_over(job: Any) -> None:
    """RQ's enqueue saves the job (rq-scheduler counts a repeating job's runs
    in its meta); a job that will not run again leaves RQ's hash behind, so
    delete it: its task is taskq's now."""
    if any(k in job.meta for k in REPEATING) and job.meta.get("repeat", 1) != 0:
        RQJob.save_meta(job)
    else:
        job.connection.delete(job.key)
