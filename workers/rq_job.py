"""The transient RQ job around a claimed taskq task, and the mapping
between task ids and RQ job ids.

RQ allows only ``[A-Za-z0-9_-]`` in a job id, so a task's RQ job id is its
id with every other byte escaped (:func:`rq_job_id`); :func:`stop_task` uses
it to send RQ's stop-job command to the worker running a task.
"""

from __future__ import annotations

from typing import Any

from rq.job import Job, _job_stack

from taskq import Lease

from .execution import run_task

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")


def rq_job_id(task_id: str) -> str:
    """The RQ job id of a task: RQ allows only ``[A-Za-z0-9_-]`` (and splits
    on ':'), so every other byte becomes ``_xx`` (``default:01j..`` ->
    ``default_3a01j..``). Use it with ``rq.command.send_stop_job_command``."""
    return "".join(chr(b) if b in _SAFE else f"_{b:02x}" for b in task_id.encode())


def task_id_of(job_id: str) -> str:
    """Inverse of :func:`rq_job_id`."""
    out, i = bytearray(), 0
    while i < len(job_id):
        if job_id[i] == "_":
            out.append(int(job_id[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(ord(job_id[i]))
            i += 1
    return out.decode()


def stop_task(connection, task_id: str) -> None:
    """Ask the RQ worker running a task to stop it (it ends ``cancelled``)."""
    from rq.command import send_stop_job_command

    send_stop_job_command(connection, rq_job_id(task_id))


class TaskqJob(Job):
    """An RQ job whose body is a claimed taskq task."""

    lease: Lease

    def perform(self) -> Any:
        # RQ's perform() PERSISTs the job hash; ours must keep expiring so a
        # crashed worker leaves nothing behind in RQ's keys.
        _job_stack.push(self)
        try:
            self._result = self._execute()
        finally:
            _job_stack.pop()
        return self._result

    def _execute(self) -> Any:
        return run_task(self.lease)  # refuses a coroutine, as every worker kind does
