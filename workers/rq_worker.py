"""RQ worker classes that run taskq tasks.

    rq worker -w workers.rq_worker.TaskqWorker default emails      # fork per task
    rq worker -w workers.rq_worker.TaskqSimpleWorker default       # in-process
    rq worker -w workers.rq_worker.TaskqPoolWorker default         # threads (workers.pool)
    rq info --queue-class workers.rq_worker.TaskqQueue             # taskq counts

The engine is the source of truth: a worker claims a task from the taskq
queues named on its command line (claim script), renews its lease
(heartbeat), and reports the outcome with complete / fail / cancel.  RQ keeps
doing what it is good at: worker registration and heartbeats (``rq info``),
signals (warm and cold shutdown), the fork-per-job horse with its timeout,
suspension, and the pub/sub commands (``stop-job``, ``kill-horse``,
``shutdown``).  The claimed task is wrapped in a transient RQ job (id:
:func:`rq_job_id` of the task id) so that RQ's machinery can run it; that
job hash expires on its own and nothing is ever enqueued into an RQ queue,
retried by RQ or put in RQ's failed registry by these classes.

``rq info`` lists these workers as usual (busy / idle, queues, finished and
failed counts). Its queue lines read RQ's lists, which taskq never fills: use
``--queue-class workers.rq_worker.TaskqQueue`` (with TASKQ_PREFIX set) to see
each taskq queue as "<queued>, <running> executing, <completed> finished,
<failed> failed".

Leases.  The forking worker's parent renews the lease of the task its horse
runs every ``job_monitoring_interval`` (capped at a third of the lease); a
lost lease or a requested cancel kills the horse.  The simple worker has no
parent to renew for it, so it holds each lease for the task's timeout plus
SIMPLE_LEASE_MARGIN.  A horse dies with its parent (PR_SET_PDEATHSIG on
Linux), so a SIGKILLed worker never leaves a task running unleased; a
command's supervisor dies with the horse and takes the command's every
process with it (workers.commands).

Environment: rq reads its Redis from ``--url`` or RQ_REDIS_URL; TASKQ_PREFIX (taskq key prefix),
TASKQ_LEASE (seconds, default 5), TASKQ_CONCURRENCY (pool threads, default 8),
TASKQ_ALLOW_COMMANDS and TASKQ_COMMAND_ENV (see workers.execution).

Round trips.  Each task costs the worker four: the claim, RQ's records of
the job (one pipeline), the report, and RQ's bookkeeping with the idle
state and the ``rq suspend`` check (one pipeline). A forking worker's horse
runs only the body and leaves what became of it to its parent
(workers.rq_outcome): it opens no Redis connection unless the body does.

Layout.  This module holds the forking and the simple worker and re-exports
the rest, so every name above is importable from here: workers.rq_base
(what both share: claiming, the job and RQ's records of it, running),
workers.rq_report (reporting), workers.rq_outcome (what a horse leaves its
parent), workers.rq_job (the job wrapper, the id mapping, stop_task),
workers.rq_pool (TaskqPoolWorker), workers.rq_queue (TaskqQueue),
workers.rq_process (the taskq client, the lease setting, signal and horse
plumbing).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import redis
from rq.job import Job
from rq.queue import Queue as RQQueue
from rq.utils import now as rq_now
from rq.worker import SimpleWorker, Worker

from taskq import Lease
from taskq.errors import LeaseLost, TaskNotFound, TaskqError
from taskq.worker_registry import HEARTBEAT_INTERVAL

from .commands import REAP_SECONDS, is_supervisor, stop_commands
from .execution import DEFAULT_TIMEOUT
from .outage import OUTAGE_ERRORS
from .rq_base import JOB_HASH_GRACE, SHOW_TASK_AFTER, WAKE_TIMEOUT, TaskqWorkerMixin
from .rq_job import TaskqJob, rq_job_id, stop_task, task_id_of
from .rq_outage import REPORT_RETRY_DELAYS
from .rq_pool import TaskqPoolWorker
from .rq_process import (die_with_parent, env_lease, exits_within, ignore_signal,
                         lighten_connections, signals_to_main_thread, taskq_client)
from .rq_queue import TaskqQueue

__all__ = [
    # the classes ``rq`` is pointed at
    "TaskqWorker", "TaskqSimpleWorker", "TaskqPoolWorker", "TaskqQueue",
    # stopping a task, and its RQ job
    "stop_task", "rq_job_id", "task_id_of", "TaskqJob",
    # the shared pieces and settings, from the modules they live in
    "TaskqWorkerMixin", "taskq_client", "env_lease",
    "WAKE_TIMEOUT", "SIMPLE_LEASE_MARGIN", "JOB_HASH_GRACE", "REPORT_RETRY_DELAYS",
]

SIMPLE_LEASE_MARGIN = 30.0
"""Seconds a simple worker's lease outlasts the task's timeout: time to
report the timeout after the death penalty fires."""


class TaskqWorker(TaskqWorkerMixin, Worker):
    """Forks a horse per task; the parent renews the lease meanwhile and
    reports what the horse made of the task once it has exited.

    SIGTERM (a dyno stopping) or Ctrl-C: finish the current task, then exit
    (a function finishes, even when the SIGTERM reaches the horse too; a
    shell command is stopped and its task given back). A second signal
    (after a second): kill the horse and give the task back. RQ's stop-job
    ends the task ``cancelled``."""

    def _monitoring_interval_for(self, lease: Lease) -> None:
        # RQ arms the monitor with signal.alarm: whole seconds, at least 1.
        # A third of the lease leaves two renewals' slack.
        self.job_monitoring_interval = max(1, int(min(
            self._cli_monitoring_interval, lease.length / 3, HEARTBEAT_INTERVAL)))

    def execute_job(self, job: Job, queue: RQQueue):
        self._parent_pid = os.getpid()
        super().execute_job(job, queue)

    def _execute(self, job: Job, queue: RQQueue) -> None:
        """RQ's Worker.execute_job without its two round trips (RQ's records
        of the started job were written with it, the idle state goes with
        the bookkeeping: rq_base), and without RQ's monitor for a horse that is done
        within SHOW_TASK_AFTER with exit status 0 (nothing to watch or
        renew). The registry hears of a task still running by then; a
        shorter one is counted by the next beat."""
        self._outcome.open()
        self.fork_work_horse(job, queue)
        job.started_at = rq_now()
        if exits_within(self.horse_pid, SHOW_TASK_AFTER):
            self._reaped = self._reap()
            if self._reaped[1] == 0:
                self._reaped = None
                self._horse_pid = 0
                return
        else:
            self._registry_beat(force=True)
        self.monitor_work_horse(job, queue)  # its wait_for_horse: what _reap found, if it did

    _reaped: tuple | None = None

    def _reap(self) -> tuple:
        try:
            return os.wait4(self.horse_pid, 0)
        except ChildProcessError:
            return None, None, None

    def wait_for_horse(self):
        reaped, self._reaped = self._reaped, None
        return reaped if reaped is not None else super().wait_for_horse()

    def kill_horse(self, sig: signal.Signals = signal.SIGKILL):
        """Kill the horse and every process it started. A command's
        supervisor (Linux) kills the command's whole subtree when the horse
        dies (its parent-death signal): wait for that. Anything else the
        horse started (a function's subprocesses; a command without a
        supervisor, which leads a group of its own out of reach of RQ's
        killpg of the horse's group) is killed here."""
        kids, groups, supervisors = [], set(), []
        if self.horse_pid and sig == signal.SIGKILL:
            try:
                horse = psutil.Process(self.horse_pid)
                direct = horse.children()
                kids = horse.children(recursive=True)
                supervisors = [k for k in direct if _supervises(k)]
                groups = {k.pid for k in direct
                          if k not in supervisors and os.getpgid(k.pid) == k.pid}
            except (psutil.Error, OSError):
                pass
        super().kill_horse(sig)
        _wait_gone(supervisors, REAP_SECONDS + 1.0)
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
        for kid in kids:
            try:
                kid.kill()
            except psutil.Error:
                pass

    def _stop_commands(self) -> None:
        # The horse runs the task: its SIGTERM handler stops a command (a
        # function goes on).
        if self.horse_pid:
            try:
                os.kill(self.horse_pid, signal.SIGTERM)
            except OSError:
                pass

    def setup_work_horse_signals(self):
        # Handlers, not SIG_IGN: an ignored signal stays ignored through
        # exec, and a command the task starts must still die of a plain
        # SIGTERM. SIGTERM (the parent's warm stop, or a platform signalling
        # every process) stops a running command, whose task is given back;
        # a function finishes.
        signal.signal(signal.SIGINT, ignore_signal)
        signal.signal(signal.SIGTERM, _stop_commands_gracefully)
        die_with_parent(self._parent_pid)
        lighten_connections(self.connection, self.taskq)  # for a body's own calls
        self._defer_reports = True  # the parent reports the task (workers.rq_outcome)

    def maintain_heartbeats(self, job: Job):
        """Every monitoring interval while the horse works: renew the lease
        (kill the horse when it is lost or a cancel was requested), then
        RQ's heartbeats and the registry's."""
        self._renew(job)
        try:
            super().maintain_heartbeats(job)
            self.connection.expire(job.key, self._job_hash_ttl(job))
        except OUTAGE_ERRORS as exc:
            self.outage.lost(exc, advance=False)
        except redis.RedisError as exc:
            self.log.warning("Worker %s: RQ heartbeat: %s", self.name, exc)
        self._registry_beat(force=self._shown != job.lease.id)

    def _renew(self, job: Job) -> None:
        lease: Lease = job.lease
        if self._lease_lost or self._cancel_seen:
            return
        try:
            cancel = lease.heartbeat()  # renews for lease.length
        except (LeaseLost, TaskNotFound) as exc:
            self._lease_lost = True
            self.log.warning("Worker %s: lost the lease of %s (%s): killing horse",
                             self.name, lease.id, exc)
            self.kill_horse()
            return
        except OUTAGE_ERRORS as exc:  # the lease may still hold; try again next time
            self.outage.lost(exc, advance=False)
            return
        except redis.RedisError as exc:
            self.log.warning("Worker %s: lease renewal of %s failed: %s", self.name, lease.id, exc)
            return
        if cancel:
            self._cancel_seen = True
            self.log.warning("Worker %s: cancel requested for %s: killing horse",
                             self.name, lease.id)
            self.kill_horse()


class TaskqSimpleWorker(TaskqWorkerMixin, SimpleWorker):
    """Runs each task in the worker process itself (no fork): for platforms
    without fork, debugging, or tasks that must share process state.

    Nobody renews the lease while the body runs, so it is taken for the
    task's timeout plus SIMPLE_LEASE_MARGIN; a cancel is seen only if the
    body asks (``current_task().cancel_requested()``), and RQ's stop-job /
    kill-horse cannot interrupt it (as with RQ's SimpleWorker)."""

    def _needed(self, task) -> float:
        return self._job_timeout(task) + SIMPLE_LEASE_MARGIN

    def _claim_length(self) -> float:
        return DEFAULT_TIMEOUT + SIMPLE_LEASE_MARGIN

    def _hold(self, lease: Lease) -> Lease:
        needed = self._needed(lease.task)
        if lease.task.timeout or lease.task.lease_seconds:
            try:  # the claim's length was not the one this task needs
                lease.heartbeat(needed)
            except (TaskqError, redis.RedisError) as exc:
                self.log.warning("Worker %s: could not lengthen the lease of %s: %s",
                                 self.name, lease.id, exc)
        lease.length = needed  # what current_task().cancel_requested() renews for
        return lease

    def execute_job(self, job: Job, queue: RQQueue):
        # The registry must hear from this process while the body runs here:
        # one thread for the worker's life, told when each task starts.
        if self._beater is None:
            self._running, self._done = threading.Event(), threading.Event()
            self._beater = threading.Thread(target=self._beat_while_running,
                                            name="taskq-registry", daemon=True)
            with signals_to_main_thread():
                self._beater.start()
        self._done.clear()
        self._running.set()
        try:
            super().execute_job(job, queue)
        finally:
            self._running.clear()
            self._done.set()

    _beater: threading.Thread | None = None

    def _execute(self, job: Job, queue: RQQueue) -> None:
        # RQ's SimpleWorker.execute_job without its two round trips (RQ's
        # records of the started job were written with it, the idle state
        # goes with the bookkeeping: rq_base)
        self.perform_job(job, queue)

    def _beat_while_running(self) -> None:
        """The registry hears of a task once it has run SHOW_TASK_AFTER
        (a short one is counted by the next regular beat), then every
        HEARTBEAT_INTERVAL while it runs."""
        while True:
            self._running.wait()
            if self._done.wait(SHOW_TASK_AFTER):
                continue
            self._registry_beat(force=True)
            while not self._done.wait(HEARTBEAT_INTERVAL):
                self._registry_beat()


def _stop_commands_gracefully(signum, frame) -> None:
    stop_commands("stopped", graceful=True)


def _supervises(proc: psutil.Process) -> bool:
    try:
        return is_supervisor(proc.cmdline())
    except psutil.Error:
        return False


def _wait_gone(procs: list[psutil.Process], seconds: float) -> None:
    """Wait until none of ``procs`` runs (a zombie has ended: not our child,
    it may wait long for init to reap it)."""
    until = time.monotonic() + seconds
    while procs and time.monotonic() < until:
        procs = [p for p in procs if _running(p)]
        if procs:
            time.sleep(0.01)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
