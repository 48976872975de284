"""A task's ``on_success`` / ``on_failure`` callbacks (the enqueue options,
RQ's ``Callback``), run by the worker that ran the attempt, in the same
thread, right after the function returned or raised, inside the task's
context (so ``job.save_meta()`` and ``get_current_job()`` work there).

They take RQ's arguments, so an RQ app's callbacks move over unchanged:
``on_success(job, connection, result)`` and ``on_failure(job, connection,
exc_type, exc_value, traceback)``, where ``job`` is a :class:`taskq.rq.Job`
view of the task and ``connection`` the worker's Redis client. As in RQ, a
success callback that raises fails the attempt (retried as any failure),
and the failure callback runs on every failed attempt; what a failure
callback raises is logged and does not change how the attempt ended.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from taskq import Lease, resolve

log = logging.getLogger("taskq.worker")


def has_callbacks(task) -> bool:
    raw = task.raw
    return "on_success" in raw or "on_failure" in raw


def _job(lease: Lease):
    from taskq.rq.job import Job  # the view needs rq; only tasks with callbacks pay for it

    return Job.from_task(lease.task, lease.client, lease.keys.prefix)


def on_success(lease: Lease, result: Any) -> None:
    name = lease.task.on_success
    if name:
        resolve(name)(_job(lease), lease.client, result)


def on_failure(lease: Lease) -> None:
    name = lease.task.on_failure
    if not name:
        return
    exc_type, exc, tb = sys.exc_info()
    try:
        resolve(name)(_job(lease), lease.client, exc_type, exc, tb)
    except Exception:  # noqa: BLE001  (the attempt failed already; say why the callback did too)
        log.exception("task %s: its on_failure callback %s raised", lease.task.id, name)
