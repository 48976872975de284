"""What the forking and the simple taskq RQ workers share: claiming a task
from the taskq queues, wrapping it in a transient RQ job, running it,
shutdown, and the taskq worker registry (reporting: workers.rq_report)."""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from datetime import timedelta

import redis
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.queue import Queue as RQQueue
from rq.suspension import WORKERS_SUSPENDED
from rq.utils import now as rq_now
from rq.worker import WorkerStatus

from taskq import Keys, Lease, __version__, claim
from taskq.errors import TaskqError
from taskq.keys import DEFAULT_PREFIX
from taskq.worker_registry import HEARTBEAT_INTERVAL, WorkerRegistry, resource_usage
from taskq.workflows import publish

from . import settings
from .activity import Activity
from .commands import REAP_SECONDS, stop_commands, wait_commands_gone
from .execution import DEFAULT_TIMEOUT, run_task
from .handlers import handlers_to_publish
from .outage import OUTAGE_ERRORS, Outage
from .wake import SlotWake, slot_groups
from .rq_job import TaskqJob, rq_job_id
from .rq_outcome import (_CANCELLED, _CLEANED, _COMPLETED, _FAILED, _NONE, _OUTCOME, _RETRYING,
                         SharedOutcome)
from .rq_outage import RidesOutages
from .rq_report import TaskReports
from .rq_startup import check_queue_names, start_check
from .rq_process import (ClusterConnection, env_lease, ignore_signal, pin_driver_info,
                         subscribe_to_commands, taskq_client)

WAKE_TIMEOUT = 1.0
"""Seconds an idle worker blocks on the queues' wake keys before claiming
again: bounds how late it sees a due delayed task when no scheduler pushes
a wake token, and how long a registry heartbeat can be late."""
JOB_HASH_GRACE = 30
"""The transient RQ job hash expires this many seconds before RQ's own
started-registry entry does, so RQ's registry cleanup never finds a stale
hash to move into its failed registry."""


SHOW_TASK_AFTER = 0.25
"""Seconds a task runs before the registry is told about it out of turn
(the heartbeat every HEARTBEAT_INTERVAL says it anyway): a worker draining
short tasks does not pay a registry round trip per task."""


class TaskqWorkerMixin(TaskReports, RidesOutages, ClusterConnection):
    """What both taskq RQ workers share: claiming, wrapping a task in a job,
    reporting its outcome to the engine, and the taskq worker registry."""

    log_result_lifespan = False  # results live in taskq, not in RQ

    def __init__(self, queues, *args, lease: float | None = None, prefix: str | None = None,
                 **kwargs):
        try:
            settings.check()
        except settings.SettingError as exc:  # one line, before RQ registers anything
            print(f"taskq: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        super().__init__(queues, *args, **kwargs)
        check_queue_names(self.queue_names())
        self.handlers = handlers_to_publish(self.queue_names())
        self.keys = Keys(prefix or DEFAULT_PREFIX)
        self.taskq = taskq_client(self.connection)
        start_check(self.taskq, self.keys.prefix, self.log)
        self.registry = WorkerRegistry(self.taskq, self.keys)
        self.lease_seconds = float(lease or env_lease())
        self._cli_monitoring_interval = self.job_monitoring_interval
        self._wake_keys = [self.keys.queue(n).wake for n in self.queue_names()]
        # on a cluster, queues in several slots: one BLPOP per slot (workers.wake)
        self._slot_wake = (SlotWake(self.taskq, self._wake_keys)
                           if len(slot_groups(self.taskq, self._wake_keys)) > 1 else None)
        self._outcome = SharedOutcome()
        self._defer_reports = False  # a forking worker's horse: its parent reports (rq_outcome)
        self._idle_written = False
        self._lease: Lease | None = None
        self._claiming = False
        self._lease_lost = self._cancel_seen = self._released = False
        self._exc: BaseException | None = None
        self._completed = self._failed = 0
        self._reported = (0, 0)
        self._next_beat = self._next_rq_beat = 0.0
        self._shown: str | None = None  # the task the registry last heard this worker hold
        self._beat_lock = threading.Lock()  # the simple worker beats from two threads
        self.activity = Activity(self.log, f"Worker {self.name}")
        self.outage = Outage(self.log, f"Worker {self.name}")
        pin_driver_info(self.connection)

    # -- registration -------------------------------------------------------
    def subscribe(self):
        subscribe_to_commands(self)

    def register_birth(self):
        super().register_birth()
        try:
            self.registry.register(self.name, self.queue_names(), version=__version__)
        except redis.RedisError as exc:
            self.log.warning("Worker %s: taskq registry: %s", self.name, exc)
        if self.handlers is not None:
            try:
                n = publish(self.taskq, self.handlers, prefix=self.keys.prefix)
                self.log.info("Worker %s: published %d workflow handler(s)", self.name, n)
            except redis.RedisError as exc:
                self.log.warning("Worker %s: publishing workflow handlers: %s", self.name, exc)

    def register_death(self):
        try:
            self._registry_beat(force=True)
            self.registry.deregister(self.name)
        except redis.RedisError as exc:
            self.log.warning("Worker %s: taskq registry: %s", self.name, exc)
        super().register_death()

    def _registry_beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_beat:
            return
        with self._beat_lock:
            self._next_beat = now + HEARTBEAT_INTERVAL - 0.5  # callers tick every interval
            done, failed = self._completed, self._failed
            delta = (done - self._reported[0], failed - self._reported[1])
            lease = self._lease
            try:
                self.registry.heartbeat(self.name, [lease.id] if lease else [],
                                        *delta, resources=resource_usage())
                self._reported = (done, failed)
                self._shown = lease.id if lease else None
            except OUTAGE_ERRORS as exc:
                self.outage.lost(exc, advance=False)
                return
            except redis.RedisError as exc:
                self.log.warning("Worker %s: taskq registry heartbeat: %s", self.name, exc)
                return
        self.outage.ok()

    def _unreported(self) -> bool:
        """Whether the registry still shows a task this worker no longer
        holds, or counts it has not heard yet."""
        return self._shown is not None or self._reported != (self._completed, self._failed)

    # -- shutdown -----------------------------------------------------------
    def _shutdown(self):
        # A claim in flight or a task held: finish it first (RQ would raise
        # StopRequested here when idle, orphaning a lease just claimed).
        if self._claiming or self._lease is not None:
            self._stop_requested = True
            if self._lease is not None:
                self._stop_commands()
            return
        super()._shutdown()

    def _stop_commands(self) -> None:
        """A warm stop while a task runs: a shell command is stopped at once
        (SIGTERM, then SIGKILL) and its task given back; a function
        finishes. Here: the command runs in this process."""
        stop_commands("stopped", graceful=True)

    def request_force_stop(self, signum, frame):
        asked = self._shutdown_requested_date
        if asked is None or rq_now() - asked >= timedelta(seconds=1):  # RQ's: not a duplicate
            # A cold stop from here on: the alarm (the horse monitor's tick,
            # a simple worker's job timeout) must not raise into it, which
            # would cut it short and leave the worker running.
            signal.signal(signal.SIGALRM, ignore_signal)
            signal.alarm(0)
        try:
            super().request_force_stop(signum, frame)
        except SystemExit:
            # a command in this process dies before its task is given back
            if stop_commands("stopped"):
                wait_commands_gone(REAP_SECONDS + 1.0)
            if self._job is None or not self._carry_out_left(self._job):  # ended already
                self._give_back()
            raise

    def _give_back(self) -> None:
        """Cold stop: the task goes back to its queue at once, its attempt
        not counted (instead of waiting for the lease to expire)."""
        lease = self._lease
        if lease is None or self._released or self._outcome[_OUTCOME] != _NONE:
            return
        self._released = True
        try:
            lease.release()
            self.log.warning("Worker %s: gave task %s back", self.name, lease.id)
        except (TaskqError, redis.RedisError) as exc:
            self.log.warning("Worker %s: could not give back %s: %s", self.name, lease.id, exc)

    # -- claiming -----------------------------------------------------------
    def _claim_length(self) -> float:
        return self.lease_seconds

    def _hold(self, lease: Lease) -> Lease:
        """The claimed lease, its ``length`` (what a renewal without an
        argument extends by, as ``current_task().cancel_requested()`` does)
        the task's own ``lease`` option, else this worker's lease setting."""
        lease.length = lease.task.lease_seconds or self.lease_seconds
        return lease

    def _claim(self) -> RQQueue | None:
        """Claim one task from the worker's queues in their current order;
        sets self._lease and returns the RQ queue object of its queue."""
        names = [q.name for q in self._ordered_queues]
        self._claiming = True
        try:
            leases = claim(self.taskq, self.keys, names, 1, self._claim_length(), self.name)
            if leases:
                self._lease = self._hold(leases[0])
        finally:
            self._claiming = False
        if not leases:
            return None
        return next(q for q in self._ordered_queues if q.name == leases[0].task.queue)

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None):
        """Claim a task, blocking on the queues' wake keys between tries;
        ``timeout`` None is burst mode (return None when nothing is ready)."""
        qnames = ",".join(self.queue_names())
        if not self._idle_written:  # the pipeline ending the last job said idle already
            self.set_state(WorkerStatus.IDLE)
        self._idle_written = False
        self.procline("Listening on " + qnames)
        idle_since = time.monotonic()
        queue = None
        first = True  # RQ's work loop has just checked for suspension
        while True:
            self.activity.tick()
            try:
                self.heartbeat()  # at most every RQ_HEARTBEAT_EVERY
                self._registry_beat()
                if self.should_run_maintenance_tasks:
                    self.run_maintenance_tasks()
                if not first:
                    self.check_for_suspension(timeout is None)  # `rq suspend`: claim nothing new
                first = False
                if self._stop_requested:
                    return None
                queue = self._claim()
                if queue is not None:
                    self.outage.ok()  # a busy worker reached Redis too: its next outage is "lost"
                    break
                if self._unreported():  # idle now: say so at once
                    self._registry_beat(force=True)
                if timeout is None:
                    return None
                if max_idle_time is not None and time.monotonic() - idle_since >= max_idle_time:
                    return None
                self.outage.ok(wrote=False)  # an empty claim: a full Redis is still full
                if self._slot_wake is not None:
                    self._slot_wake.wait(WAKE_TIMEOUT)
                else:
                    self.taskq.blpop(self._wake_keys, timeout=WAKE_TIMEOUT)
            except OUTAGE_ERRORS as exc:  # one line when lost, one when back
                self.outage.pause(self.outage.lost(exc), lambda: self._stop_requested)
        while True:  # the job hash is written after the claim: Redis may go meanwhile
            try:
                job = self._job_for(self._lease, queue)
                break
            except OUTAGE_ERRORS as exc:
                if self._stop_requested:  # leave the task to its (short) lease
                    self._lease = None
                    return None
                self.outage.pause(self.outage.lost(exc), lambda: self._stop_requested)
        self.reorder_queues(reference_queue=queue)
        self.log.info("Worker %s: %s: %s (%s)", self.name, queue.name, job.description,
                      self._lease.id)
        return job, queue

    def _job_timeout(self, task) -> int:
        return max(1, math.ceil(task.timeout)) if task.timeout else int(DEFAULT_TIMEOUT)

    def _job_for(self, lease: Lease, queue: RQQueue) -> TaskqJob:
        """The transient RQ job around a claimed task (its hash lets RQ's
        stop-job command and horse monitoring find it; it expires)."""
        task = lease.task
        command = task.meta.get("command") if isinstance(task.meta, dict) else None
        what = task.func or (f"command {command!r}" if command else "nothing")
        job = TaskqJob.create(run_task, args=(task.id,), connection=self.connection,
                              id=rq_job_id(task.id), origin=queue.name, result_ttl=0,
                              timeout=self._job_timeout(task), description=what[:200],
                              serializer=self.serializer, meta={"taskq_task_id": task.id})
        job.lease = lease
        job.redis_server_version = self.get_redis_server_version()
        self._monitoring_interval_for(lease)
        with self.connection.pipeline() as pipe:
            self._write_job(job, pipe)
            pipe.execute()
        return job

    # RQ's records of a job, written with the job hash in one round trip
    # before it runs and dropped with the bookkeeping after it: the
    # worker's round trips per task are the claim, this pipeline, the
    # report and the bookkeeping (a forking worker's horse makes none).
    def _write_job(self, job: Job, pipe) -> None:
        """The job hash as RQ leaves it once started, the execution (RQ's
        started registry), and the worker's busy state, current job and
        heartbeat: what RQ writes in three pipelines (the last in the horse)."""
        job.worker_name = self.name
        job.last_heartbeat = job.started_at = rq_now()
        job._status = JobStatus.STARTED
        job.save(pipeline=pipe)
        pipe.expire(job.key, self._job_hash_ttl(job))
        self.current_job_working_time = 0
        ttl = self.get_heartbeat_ttl(job)
        self.execution = Execution.create(job, ttl, pipeline=pipe, worker_name=self.name)
        self.set_state(WorkerStatus.BUSY, pipeline=pipe)
        self.set_current_job_id(job.id, pipeline=pipe)
        pipe.hset(self.key, "current_job_working_time", 0)
        self.heartbeat(ttl, pipeline=pipe)

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False):
        # what RQ writes here was written with the job (_write_job)
        self.procline(f"Processing {job.description} ({job.lease.id}) since {time.time()}")

    def set_current_job_working_time(self, current_job_working_time, pipeline=None):
        # RQ's forking worker zeroes it after every horse; it was zeroed with the job.
        if current_job_working_time == 0 == self.current_job_working_time and pipeline is None:
            return
        super().set_current_job_working_time(current_job_working_time, pipeline=pipeline)

    def _after_job(self, pipe) -> None:
        """With the bookkeeping: the idle state, the worker's own heartbeat
        and RQ's `rq suspend` check, which RQ's loop sends next in round
        trips of their own."""
        self.set_state(WorkerStatus.IDLE, pipeline=pipe)
        self.heartbeat(pipeline=pipe)
        self._suspension_reply = len(pipe)
        pipe.exists(WORKERS_SUSPENDED)

    def _after_job_replies(self, replies: list) -> None:
        self._not_suspended = not replies[self._suspension_reply]

    _not_suspended = False

    def check_for_suspension(self, burst: bool):
        if self._not_suspended:  # asked with the last task's bookkeeping, a moment ago
            self._not_suspended = False
            return
        super().check_for_suspension(burst)

    def _monitoring_interval_for(self, lease: Lease) -> None:
        pass

    def _job_hash_ttl(self, job: Job) -> int:
        return max(10, int(self.get_heartbeat_ttl(job)) - JOB_HASH_GRACE)

    # -- running ------------------------------------------------------------
    def execute_job(self, job: Job, queue: RQQueue):
        self._outcome.reset()
        self._not_suspended = False
        self._lease_lost = self._cancel_seen = self._released = False
        self._exc = None
        self._job = job
        try:
            self._execute(job, queue)
        except OUTAGE_ERRORS as exc:  # RQ's bookkeeping after the task: not worth dying for
            self.outage.lost(exc, advance=False)
        finally:
            self._end(job)

    _job: Job | None = None  # the job in hand (a cold stop reports what its horse left)

    def _execute(self, job: Job, queue: RQQueue) -> None:
        super().execute_job(job, queue)

    def _end(self, job: Job) -> None:
        """After the task ran (here or in a horse): make sure it was reported
        once, count it, and drop RQ's traces of it."""
        self._carry_out_left(job)
        lease, outcome = self._lease, self._outcome[_OUTCOME]
        if outcome == _NONE and not (self._lease_lost or self._released) and lease is not None:
            # e.g. a horse that died before its body started
            self._report_failure(job, "the task ended without reporting (worker error)", True)
            outcome = self._outcome[_OUTCOME]
        if outcome == _COMPLETED:
            self._completed += 1
        elif outcome in (_FAILED, _RETRYING):
            self._failed += 1
        if outcome in (_COMPLETED, _FAILED, _RETRYING, _CANCELLED):
            self.activity.count({_COMPLETED: "completed", _FAILED: "failed",
                                 _RETRYING: "retried", _CANCELLED: "cancelled"}[outcome])
        self._lease = self._job = None
        if not self._outcome[_CLEANED]:  # e.g. a horse that died before its body ended
            try:
                with self.connection.pipeline() as pipe:
                    if self.execution is not None:
                        self.cleanup_execution(job, pipeline=pipe)
                    pipe.delete(job.key)
                    self._after_job(pipe)
                    self._after_job_replies(pipe.execute())
                self._idle_written = self._state == WorkerStatus.IDLE
            except redis.RedisError:
                pass
        self._registry_beat()  # rate-limited: an idle worker reports at once (dequeue)

    def handle_execution_ended(self, job: Job, queue: RQQueue, heartbeat_ttl: int):
        # RQ also writes the job's heartbeat here, to keep it alive through
        # its callbacks; a transient job has none and is deleted next.
        job.ended_at = rq_now()

    def handle_exception(self, job: Job, *exc_info):
        self._exc = exc_info[1]
        super().handle_exception(job, *exc_info)
