"""How the taskq RQ workers report a task: what became of it (complete,
fail, cancel, give back, lease lost) goes to the engine exactly once, and
RQ's traces of its transient job go; a forking worker's horse leaves both
to its parent (workers.rq_outcome)."""

from __future__ import annotations

import redis
from rq.job import Job
from rq.queue import Queue as RQQueue
from rq.timeouts import JobTimeoutException
from rq.worker import WorkerStatus

from taskq import Lease
from taskq.errors import LeaseLost, TaskNotFound, TaskqError

from .execution import CommandCancelled, CommandStopped, TaskError, TaskTimeout, is_retryable
from .rq_outage import retrying
from .rq_outcome import (_CANCELLED, _CLEANED, _COMPLETED, _FAILED, _LOST, _NONE, _OUTCOME,
                         _RETRYING, _RETURNED, _UNKNOWN, decode_result, encode_result)


class TaskReports:
    """RQ Worker overrides; the worker has ``_outcome`` (a SharedOutcome),
    ``_defer_reports``, ``_lease_lost``, ``_cancel_seen``, ``_released``,
    ``_exc``, ``outage``, ``activity``, ``_give_back``, and ``_after_job``
    / ``_after_job_replies`` (what else rides with the bookkeeping)."""

    def handle_job_success(self, job: Job, queue: RQQueue, started_job_registry=None):
        self._settle(job, "complete", job._result)

    def handle_job_retry(self, job: Job, queue: RQQueue, retry, started_job_registry, execution):
        # An rq.Retry returned by a body: taskq's own retry policy decides.
        self._settle(job, "fail", "the task asked for a retry", True, None)

    def handle_job_failure(self, job: Job, queue: RQQueue, started_job_registry=None,
                           exc_string: str = ""):
        exc, self._exc = self._exc, None
        stopped = self._stopped_job_id == job.id
        self._stopped_job_id = None
        if self._carry_out_left(job):  # a horse killed or dead after its body ended
            return
        if self._outcome[_OUTCOME] != _NONE or self._released:  # reported, or given back
            self._rq_bookkeeping(job, success=None)
            return
        if self._lease_lost or isinstance(exc, (LeaseLost, TaskNotFound)):
            self._settle(job, "lost")
        elif stopped or self._cancel_seen or isinstance(exc, CommandCancelled):
            self._settle(job, "cancel", "stopped by rq stop-job" if stopped else "cancelled")
        elif isinstance(exc, CommandStopped):  # the worker is stopping: queued again
            self._settle(job, "give_back")
        elif exc is None:
            self._settle(job, "fail", exc_string.strip() or "the work horse died", True, None)
        else:
            if isinstance(exc, JobTimeoutException):
                exc = TaskTimeout(f"timed out after {job.timeout} s")
            log = exc_string if exc_string and not isinstance(exc, TaskError) else None
            self._settle(job, "fail", f"{type(exc).__name__}: {exc}", is_retryable(exc), log)

    def _settle(self, job: Job, what: str, *args) -> None:
        """Report what became of the task (``what``: complete, fail, cancel,
        give_back, lost) and do RQ's bookkeeping; a forking worker's horse
        leaves both to its parent (workers.rq_outcome)."""
        if self._defer_reports:
            if what == "complete":  # encoded here: a result that cannot be fails the task
                args = (encode_result(args[0]),)
            self._outcome.leave((what, args, job.started_at, job.ended_at))
            return
        self._carry_out(job, what, *args)

    def _carry_out_left(self, job: Job) -> bool:
        """Carry out the report a horse left, if it left one not yet carried out."""
        left = self._outcome.take()
        if left is None:
            return False
        what, args, job.started_at, job.ended_at = left
        if what == "complete":
            try:
                args = (decode_result(args[0]),)
            except (ValueError, RecursionError) as exc:  # e.g. nested deeper than this stack
                what, args = "fail", (f"the result could not be read back: {exc}", False, None)
        self._carry_out(job, what, *args)
        return True

    def _carry_out(self, job: Job, what: str, *args) -> None:
        lease: Lease = job.lease
        if what == "complete":
            self._report_complete(lease, args[0])
            self._rq_bookkeeping(job, success=True)
            return
        if what == "fail":
            message, retryable, log = args
            if log:
                self._log_to_task(lease, log)
            self._report_failure(job, message, retryable)
        elif what == "cancel":
            self._report_failure(job, args[0], False, cancel=True)
        elif what == "give_back":
            self._give_back()
            self._outcome[_OUTCOME] = _RETURNED
            self._rq_bookkeeping(job, success=None)
            return
        else:  # lost
            self._outcome[_OUTCOME] = _LOST
            self.log.warning("Worker %s: task %s: lease lost, not reporting", self.name, lease.id)
        self._rq_bookkeeping(job, success=False)

    def _report_complete(self, lease: Lease, result) -> None:
        try:
            retrying(lambda: lease.complete(result), self.outage, self.log,
                     f"Worker {self.name}: task {lease.id}")
            self._outcome[_OUTCOME] = _COMPLETED
            # RQ's own line says so (its "Job OK"); this one with --verbose
            self.log.debug("Worker %s: task %s completed", self.name, lease.id)
        except TaskqError as exc:
            self._outcome[_OUTCOME] = _LOST
            self.log.warning("Worker %s: task %s finished but was not ours any more: %s",
                             self.name, lease.id, exc)
        except redis.RedisError as exc:
            self._outcome[_OUTCOME] = _UNKNOWN
            self.log.error("Worker %s: task %s finished; could not report it (%s): its lease "
                           "will expire and it will run again", self.name, lease.id, exc)

    def _log_to_task(self, lease: Lease, text: str) -> None:
        try:
            lease.log(text[-8000:], "error")
        except (TaskqError, redis.RedisError):
            pass

    def _report_failure(self, job: Job, message: str, retryable: bool, cancel: bool = False) -> None:
        lease: Lease = job.lease
        try:
            status = retrying(lambda: lease.cancelled(message) if cancel
                              else lease.fail(message, retryable=retryable), self.outage,
                              self.log, f"Worker {self.name}: task {lease.id}")
        except TaskqError as exc:
            self._outcome[_OUTCOME] = _LOST
            self.log.warning("Worker %s: task %s: could not report failure: %s",
                             self.name, lease.id, exc)
            return
        except redis.RedisError as exc:
            self._outcome[_OUTCOME] = _UNKNOWN
            self.log.error("Worker %s: task %s: could not report failure (%s): its lease "
                           "will expire", self.name, lease.id, exc)
            return
        self._outcome[_OUTCOME] = {"cancelled": _CANCELLED, "retrying": _RETRYING}.get(status,
                                                                                      _FAILED)
        self.activity.failure(lease.task, message, status, count=False)  # counted by _end

    def _rq_bookkeeping(self, job: Job, success: bool | None) -> None:
        """RQ's counters for ``rq info`` (success None: counted already);
        the job's RQ traces go (no RQ result, no RQ failed registry, no RQ
        retry)."""
        try:
            with self.connection.pipeline() as pipe:
                if success:
                    self.increment_successful_job_count(pipeline=pipe)
                elif success is not None:
                    self.increment_failed_job_count(pipeline=pipe)
                if success is not None and job.started_at and job.ended_at:
                    self.increment_total_working_time(job.ended_at - job.started_at, pipe)
                if self.execution is not None:
                    self.cleanup_execution(job, pipeline=pipe)
                else:
                    self.set_current_job_id(None, pipeline=pipe)
                pipe.delete(job.key)
                self._after_job(pipe)
                self._after_job_replies(pipe.execute())
            self._outcome[_CLEANED] = 1
            self._idle_written = self._state == WorkerStatus.IDLE
        except redis.RedisError as exc:
            self.log.warning("Worker %s: RQ bookkeeping for %s: %s", self.name, job.id, exc)
