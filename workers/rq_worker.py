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
Linux), so a SIGKILLed worker never leaves a task running unleased.

Environment: REDIS_URL (read by ``rq``), TASKQ_PREFIX (taskq key prefix),
TASKQ_LEASE (seconds, default 30), TASKQ_CONCURRENCY (pool threads, default 8),
TASKQ_ALLOW_COMMANDS (see workers.execution).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import math
import mmap
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import psutil
import redis
from rq.job import Job, _job_stack
from rq.queue import Queue as RQQueue
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.timeouts import JobTimeoutException
from rq.worker import BaseWorker, SimpleWorker, Worker, WorkerStatus

from taskq import Keys, Lease, __version__, claim
from taskq.errors import LeaseLost, TaskNotFound, TaskqError
from taskq.keys import DEFAULT_PREFIX
from taskq.lease import DEFAULT_LEASE
from taskq.options import check_queue_name
from taskq.queue import Queue as TaskqQueueAPI
from taskq.worker_registry import HEARTBEAT_INTERVAL, WorkerRegistry, resource_usage

from .execution import DEFAULT_TIMEOUT, TaskError, TaskTimeout, run_task

WAKE_TIMEOUT = 1.0
"""Seconds an idle worker blocks on the queues' wake keys before claiming
again: bounds how late it sees a due delayed task when no scheduler pushes
a wake token, and how long a registry heartbeat can be late."""
SIMPLE_LEASE_MARGIN = 30.0
"""Seconds a simple worker's lease outlasts the task's timeout: time to
report the timeout after the death penalty fires."""
JOB_HASH_GRACE = 30
"""The transient RQ job hash expires this many seconds before RQ's own
started-registry entry does, so RQ's registry cleanup never finds a stale
hash to move into its failed registry."""

REPORT_RETRY_DELAYS = (0.5, 1.0, 2.0)
"""Waits between tries of a report that met a Redis connection error (every
report is idempotent for its lease token, so trying again is safe)."""

# What the process that ran a task reported, shared between a horse and its
# parent through one byte of anonymous shared memory. _UNKNOWN: Redis could
# not be reached; the lease will expire and the engine decides.
_NONE, _COMPLETED, _FAILED, _CANCELLED, _LOST, _UNKNOWN = 0, 1, 2, 3, 4, 5


def env_lease() -> float:
    return float(os.environ.get("TASKQ_LEASE") or DEFAULT_LEASE)


# -- ids ---------------------------------------------------------------------
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


# -- the transient job -------------------------------------------------------
@dataclass
class HeldLease(Lease):
    """A lease that knows how long its holder keeps it: ``heartbeat()``
    without an argument (``current_task().cancel_requested()``) renews for
    that long, not for the engine's 30 s default, which would cut a simple
    worker's timeout-long lease short."""

    length: float = DEFAULT_LEASE

    def heartbeat(self, lease: float | None = None) -> bool:
        return super().heartbeat(self.length if lease is None else lease)


class TaskqJob(Job):
    """An RQ job whose body is a claimed taskq task."""

    lease: HeldLease

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
        result = run_task(self.lease)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return result


def taskq_client(connection: redis.Redis) -> redis.Redis:
    """A client to the same server as RQ's connection, decoding replies to
    str (the engine compares script replies with str); its own pool, so a
    forked horse reconnects on first use."""
    pool = connection.connection_pool
    kwargs = dict(pool.connection_kwargs, decode_responses=True)
    return redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=pool.connection_class, **kwargs))


def _ignore(signum, frame) -> None:
    pass


def _retrying(call):
    """Run a report, trying again through a short Redis outage."""
    for delay in REPORT_RETRY_DELAYS:
        try:
            return call()
        except (redis.ConnectionError, redis.TimeoutError):
            time.sleep(delay)
    return call()


_MAIN_THREAD_SIGNALS = {signal.SIGALRM, signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _signals_to_main_thread():
    """Start helper threads inside this block: they inherit a mask that
    blocks the signals RQ handles, so the kernel delivers those to the main
    thread, whose blocking call (the parent's wait for its horse) they must
    interrupt. A SIGALRM taken by RQ's pub/sub thread instead (as after a
    SIGSTOP/SIGCONT) would leave the parent in wait4 until the horse exits,
    its lease unrenewed."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _MAIN_THREAD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this horse when its parent dies: a horse
    orphaned by a SIGKILLed worker would run on unleased while its task runs
    again elsewhere."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


# -- the worker classes --------------------------------------------------------
class TaskqWorkerMixin:
    """What both taskq RQ workers share: claiming, wrapping a task in a job,
    reporting its outcome to the engine, and the taskq worker registry."""

    log_result_lifespan = False  # results live in taskq, not in RQ

    def __init__(self, queues, *args, lease: float | None = None, prefix: str | None = None,
                 **kwargs):
        super().__init__(queues, *args, **kwargs)
        for name in self.queue_names():
            check_queue_name(name)
        self.keys = Keys(prefix or DEFAULT_PREFIX)
        self.taskq = taskq_client(self.connection)
        self.registry = WorkerRegistry(self.taskq, self.keys)
        self.lease_seconds = float(lease or env_lease())
        self._cli_monitoring_interval = self.job_monitoring_interval
        self._wake_keys = [self.keys.queue(n).wake for n in self.queue_names()]
        self._outcome = mmap.mmap(-1, 1)
        self._lease: HeldLease | None = None
        self._claiming = False
        self._lease_lost = self._cancel_seen = self._released = False
        self._exc: BaseException | None = None
        self._completed = self._failed = 0
        self._reported = (0, 0)
        self._next_beat = self._next_rq_beat = 0.0
        self._beat_lock = threading.Lock()  # the simple worker beats from two threads

    # -- registration -------------------------------------------------------
    def subscribe(self):
        with _signals_to_main_thread():
            super().subscribe()

    def register_birth(self):
        super().register_birth()
        try:
            self.registry.register(self.name, self.queue_names(), version=__version__)
        except redis.RedisError as exc:
            self.log.warning("Worker %s: taskq registry: %s", self.name, exc)

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
            except redis.RedisError as exc:
                self.log.warning("Worker %s: taskq registry heartbeat: %s", self.name, exc)

    # -- shutdown -----------------------------------------------------------
    def _shutdown(self):
        # A claim in flight or a task held: finish it first (RQ would raise
        # StopRequested here when idle, orphaning a lease just claimed).
        if self._claiming or self._lease is not None:
            self._stop_requested = True
            return
        super()._shutdown()

    def request_force_stop(self, signum, frame):
        try:
            super().request_force_stop(signum, frame)
        except SystemExit:
            self._give_back()
            raise

    def _give_back(self) -> None:
        """Cold stop: the task goes back to its queue at once, its attempt
        not counted (instead of waiting for the lease to expire)."""
        lease = self._lease
        if lease is None or self._released:
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

    def _hold(self, lease: Lease) -> HeldLease:
        return HeldLease(lease.task, lease.token, lease.client, lease.keys,
                         length=lease.task.lease_seconds or self.lease_seconds)

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
        self.set_state(WorkerStatus.IDLE)
        self.procline("Listening on " + qnames)
        idle_since = time.monotonic()
        wait = 1.0
        queue = None
        while True:
            try:
                if time.monotonic() >= self._next_rq_beat:  # its TTL is minutes: no need each second
                    self.heartbeat()
                    self._next_rq_beat = time.monotonic() + HEARTBEAT_INTERVAL
                self._registry_beat()
                if self.should_run_maintenance_tasks:
                    self.run_maintenance_tasks()
                self.check_for_suspension(timeout is None)  # `rq suspend`: claim nothing new
                if self._stop_requested:
                    return None
                queue = self._claim()
                if queue is not None:
                    break
                if timeout is None:
                    return None
                if max_idle_time is not None and time.monotonic() - idle_since >= max_idle_time:
                    return None
                self.taskq.blpop(self._wake_keys, timeout=WAKE_TIMEOUT)
                wait = 1.0
            except redis.ConnectionError as exc:
                self.log.error("Worker %s: could not connect to Redis: %s; retrying in %d s",
                               self.name, exc, wait)
                time.sleep(wait)
                wait = min(wait * self.exponential_backoff_factor, self.max_connection_wait_time)
        job = self._job_for(self._lease, queue)
        self.reorder_queues(reference_queue=queue)
        self.log.info("Worker %s: %s: %s (%s)", self.name, queue.name, job.description,
                      self._lease.id)
        self._registry_beat(force=True)
        return job, queue

    def _job_timeout(self, task) -> int:
        return max(1, math.ceil(task.timeout)) if task.timeout else int(DEFAULT_TIMEOUT)

    def _job_for(self, lease: HeldLease, queue: RQQueue) -> TaskqJob:
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
            job.save(pipeline=pipe)
            pipe.expire(job.key, self._job_hash_ttl(job))
            pipe.execute()
        return job

    def _monitoring_interval_for(self, lease: HeldLease) -> None:
        pass

    def _job_hash_ttl(self, job: Job) -> int:
        return max(10, int(self.get_heartbeat_ttl(job)) - JOB_HASH_GRACE)

    # -- running ------------------------------------------------------------
    def execute_job(self, job: Job, queue: RQQueue):
        self._outcome[0] = _NONE
        self._lease_lost = self._cancel_seen = self._released = False
        self._exc = None
        try:
            super().execute_job(job, queue)
        finally:
            self._end(job)

    def _end(self, job: Job) -> None:
        """After the task ran (here or in a horse): make sure it was reported
        once, count it, and drop RQ's traces of it."""
        lease, outcome = self._lease, self._outcome[0]
        if outcome == _NONE and not (self._lease_lost or self._released) and lease is not None:
            # e.g. a horse that died before its body started
            self._report_failure(job, "the task ended without reporting (worker error)", True)
            outcome = self._outcome[0]
        if outcome == _COMPLETED:
            self._completed += 1
        elif outcome == _FAILED:
            self._failed += 1
        self._lease = None
        try:
            with self.connection.pipeline() as pipe:
                if self.execution is not None:
                    self.cleanup_execution(job, pipeline=pipe)
                pipe.delete(job.key)
                pipe.execute()
        except redis.RedisError:
            pass
        self._registry_beat(force=True)

    def handle_exception(self, job: Job, *exc_info):
        self._exc = exc_info[1]
        super().handle_exception(job, *exc_info)

    def handle_job_success(self, job: Job, queue: RQQueue, started_job_registry=None):
        lease: HeldLease = job.lease
        try:
            _retrying(lambda: lease.complete(job._result))
            self._outcome[0] = _COMPLETED
            self.log.info("Worker %s: task %s completed", self.name, lease.id)
        except TaskqError as exc:
            self._outcome[0] = _LOST
            self.log.warning("Worker %s: task %s finished but was not ours any more: %s",
                             self.name, lease.id, exc)
        except redis.RedisError as exc:
            self._outcome[0] = _UNKNOWN
            self.log.error("Worker %s: task %s finished; could not report it (%s): its lease "
                           "will expire and it will run again", self.name, lease.id, exc)
        self._rq_bookkeeping(job, success=True)

    def handle_job_retry(self, job: Job, queue: RQQueue, retry, started_job_registry, execution):
        # An rq.Retry returned by a body: taskq's own retry policy decides.
        self._report_failure(job, "the task asked for a retry", True)
        self._rq_bookkeeping(job, success=False)

    def handle_job_failure(self, job: Job, queue: RQQueue, started_job_registry=None,
                           exc_string: str = ""):
        exc, self._exc = self._exc, None
        stopped = self._stopped_job_id == job.id
        self._stopped_job_id = None
        lease: HeldLease = job.lease
        if self._outcome[0] != _NONE or self._released:
            # reported already (a horse killed after it reported), or given back
            self._rq_bookkeeping(job, success=None)
            return
        if self._lease_lost or isinstance(exc, (LeaseLost, TaskNotFound)):
            self._outcome[0] = _LOST
            self.log.warning("Worker %s: task %s: lease lost, not reporting", self.name, lease.id)
        elif stopped or self._cancel_seen:
            self._report_failure(job, "stopped by rq stop-job" if stopped else "cancelled",
                                 False, cancel=True)
        else:
            if exc is None:
                message, retryable = exc_string.strip() or "the work horse died", True
            else:
                if isinstance(exc, JobTimeoutException):
                    exc = TaskTimeout(f"timed out after {job.timeout} s")
                message = f"{type(exc).__name__}: {exc}"
                retryable = exc.retryable if isinstance(exc, TaskError) else True
                if exc_string and not isinstance(exc, TaskError):
                    self._log_to_task(lease, exc_string)
            self._report_failure(job, message, retryable)
        self._rq_bookkeeping(job, success=False)

    def _log_to_task(self, lease: HeldLease, text: str) -> None:
        try:
            lease.log(text[-8000:], "error")
        except (TaskqError, redis.RedisError):
            pass

    def _report_failure(self, job: Job, message: str, retryable: bool, cancel: bool = False) -> None:
        lease: HeldLease = job.lease
        try:
            status = _retrying(lambda: lease.cancelled(message) if cancel
                               else lease.fail(message, retryable=retryable))
        except TaskqError as exc:
            self._outcome[0] = _LOST
            self.log.warning("Worker %s: task %s: could not report failure: %s",
                             self.name, lease.id, exc)
            return
        except redis.RedisError as exc:
            self._outcome[0] = _UNKNOWN
            self.log.error("Worker %s: task %s: could not report failure (%s): its lease "
                           "will expire", self.name, lease.id, exc)
            return
        self._outcome[0] = _CANCELLED if status == "cancelled" else _FAILED
        self.log.warning("Worker %s: task %s %s: %s", self.name, lease.id, status, message)

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
                pipe.execute()
        except redis.RedisError as exc:
            self.log.warning("Worker %s: RQ bookkeeping for %s: %s", self.name, job.id, exc)


class TaskqWorker(TaskqWorkerMixin, Worker):
    """Forks a horse per task; the parent renews the lease meanwhile.

    SIGTERM (a dyno stopping) or Ctrl-C: finish the current task, then exit;
    the horse ignores both, so a SIGTERM sent to every process still lets
    the task finish. A second signal (after a second): kill the horse and
    give the task back. RQ's stop-job ends the task ``cancelled``."""

    def _monitoring_interval_for(self, lease: HeldLease) -> None:
        # RQ arms the monitor with signal.alarm: whole seconds, at least 1.
        # A third of the lease leaves two renewals' slack.
        self.job_monitoring_interval = max(1, int(min(
            self._cli_monitoring_interval, lease.length / 3, HEARTBEAT_INTERVAL)))

    def execute_job(self, job: Job, queue: RQQueue):
        self._parent_pid = os.getpid()
        super().execute_job(job, queue)

    def kill_horse(self, sig: signal.Signals = signal.SIGKILL):
        """Kill the horse and what it started: a command runs in a session
        of its own, out of reach of RQ's killpg of the horse's group."""
        kids = []
        if self.horse_pid and sig == signal.SIGKILL:
            try:
                kids = psutil.Process(self.horse_pid).children(recursive=True)
            except psutil.Error:
                pass
        super().kill_horse(sig)
        for kid in kids:
            try:
                kid.kill()
            except psutil.Error:
                pass

    def setup_work_horse_signals(self):
        # Handlers that do nothing, not SIG_IGN: an ignored signal stays
        # ignored through exec, and a command the task starts must still
        # die of a plain SIGTERM.
        signal.signal(signal.SIGINT, _ignore)
        signal.signal(signal.SIGTERM, _ignore)
        _die_with_parent(self._parent_pid)

    def maintain_heartbeats(self, job: Job):
        """Every monitoring interval while the horse works: renew the lease
        (kill the horse when it is lost or a cancel was requested), then
        RQ's heartbeats and the registry's."""
        self._renew(job)
        try:
            super().maintain_heartbeats(job)
            self.connection.expire(job.key, self._job_hash_ttl(job))
        except redis.RedisError as exc:
            self.log.warning("Worker %s: RQ heartbeat: %s", self.name, exc)
        self._registry_beat()

    def _renew(self, job: Job) -> None:
        lease: HeldLease = job.lease
        if self._lease_lost or self._cancel_seen:
            return
        try:
            cancel = lease.heartbeat(lease.length)
        except (LeaseLost, TaskNotFound) as exc:
            self._lease_lost = True
            self.log.warning("Worker %s: lost the lease of %s (%s): killing horse",
                             self.name, lease.id, exc)
            self.kill_horse()
            return
        except redis.RedisError as exc:  # the lease may still hold; try again next time
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

    def _hold(self, lease: Lease) -> HeldLease:
        needed = self._needed(lease.task)
        if lease.task.timeout or lease.task.lease_seconds:
            try:  # the claim's length was not the one this task needs
                lease.heartbeat(needed)
            except (TaskqError, redis.RedisError) as exc:
                self.log.warning("Worker %s: could not lengthen the lease of %s: %s",
                                 self.name, lease.id, exc)
        return HeldLease(lease.task, lease.token, lease.client, lease.keys, length=needed)

    def execute_job(self, job: Job, queue: RQQueue):
        # The registry must hear from this process while the body runs here.
        stop = threading.Event()

        def beat():
            while not stop.wait(HEARTBEAT_INTERVAL):
                self._registry_beat()

        t = threading.Thread(target=beat, name="taskq-registry", daemon=True)
        with _signals_to_main_thread():
            t.start()
        try:
            super().execute_job(job, queue)
        finally:
            stop.set()


class TaskqPoolWorker(BaseWorker):
    """RQ's registration, heartbeats and signals around workers.pool's
    threaded PoolWorker (TASKQ_CONCURRENCY threads, default 8), which does
    its own claiming, lease renewal and taskq registry heartbeats.

    First SIGTERM / SIGINT: stop claiming, finish what is in flight, exit.
    A second one a second or more later: give the leases back and exit.
    ``--max-jobs``, ``--max-idle-time`` and ``rq suspend`` do not apply."""

    def __init__(self, queues, *args, lease: float | None = None, prefix: str | None = None,
                 concurrency: int | None = None, **kwargs):
        super().__init__(queues, *args, **kwargs)
        for name in self.queue_names():
            check_queue_name(name)
        self.keys = Keys(prefix or DEFAULT_PREFIX)
        self.taskq = taskq_client(self.connection)
        self.lease_seconds = float(lease or env_lease())
        self.concurrency = int(concurrency or os.environ.get("TASKQ_CONCURRENCY") or 8)
        self._stop_at: float | None = None
        self._cold = False

    def subscribe(self):
        with _signals_to_main_thread():
            super().subscribe()

    def _install_signal_handlers(self):
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum, frame):
        # Only flags here: the main loop passes them on outside the handler.
        if self._stop_at is None:
            self._stop_at = time.monotonic()
            self._stop_requested = True
        elif time.monotonic() - self._stop_at >= 1.0:
            self._cold = True

    def work(self, burst: bool = False, logging_level: str | None = None, *args,
             max_jobs: int | None = None, max_idle_time: int | None = None, **kwargs) -> bool:
        from .pool import PoolWorker

        date_format = kwargs.get("date_format")
        log_format = kwargs.get("log_format")
        boot = {k: v for k, v in (("date_format", date_format), ("log_format", log_format)) if v}
        self.bootstrap(logging_level, **boot)
        if max_jobs is not None or max_idle_time is not None:
            self.log.warning("Worker %s: --max-jobs / --max-idle-time do not apply to the pool",
                             self.name)
        pool = PoolWorker(self.taskq, self.queue_names(), concurrency=self.concurrency,
                          lease=self.lease_seconds, prefix=self.keys.prefix, worker_id=self.name)
        self._install_signal_handlers()
        self.set_state(WorkerStatus.BUSY)
        failure: list[BaseException] = []

        def run():
            try:
                pool.run(burst=burst)
            except BaseException as exc:  # reported by the main thread
                failure.append(exc)

        thread = threading.Thread(target=run, name="taskq-pool")
        with _signals_to_main_thread():  # the pool starts its own threads from this one
            thread.start()
        told = (False, False)
        try:
            while thread.is_alive():
                thread.join(1.0)
                if (self._stop_requested, self._cold) != told:
                    told = (self._stop_requested, self._cold)
                    self.log.info("Worker %s: %s shutdown requested", self.name,
                                  "cold" if self._cold else "warm")
                    pool.request_stop(cold=self._cold)
                try:
                    self.heartbeat()
                    self.connection.hset(self.key, mapping={
                        "successful_job_count": pool.completed, "failed_job_count": pool.failed})
                except redis.RedisError as exc:
                    self.log.warning("Worker %s: RQ heartbeat: %s", self.name, exc)
            if failure:
                self.log.error("Worker %s: pool stopped on %r", self.name, failure[0])
        finally:
            self.teardown()
        return bool(pool.completed or pool.failed)


# -- rq info -------------------------------------------------------------------
def _counted(base: type, status: str) -> type:
    class Counted(base):
        @property
        def count(self) -> int:
            return TaskqQueueAPI(self.name, redis=self.connection).count(status)

    Counted.__name__ = f"Taskq{base.__name__}"
    return Counted


_Started = _counted(StartedJobRegistry, "running")
_Finished = _counted(FinishedJobRegistry, "completed")
_Failed = _counted(FailedJobRegistry, "failed")


class TaskqQueue(RQQueue):
    """``rq info --queue-class workers.rq_worker.TaskqQueue``: lists the
    taskq queues (of TASKQ_PREFIX) with taskq's counts: queued, "executing"
    = running, "finished" = completed, "failed" = failed."""

    @classmethod
    def all(cls, connection=None, job_class=None, serializer=None, death_penalty_class=None):
        names = sorted(n.decode() if isinstance(n, bytes) else n
                       for n in connection.smembers(Keys(DEFAULT_PREFIX).queues))
        return [cls(n, connection=connection, job_class=job_class, serializer=serializer)
                for n in names]

    def counts(self) -> dict[str, int]:
        return TaskqQueueAPI(self.name, redis=self.connection).counts()

    @property
    def count(self) -> int:
        return TaskqQueueAPI(self.name, redis=self.connection).count("queued")

    @property
    def started_job_registry(self):
        return _Started(queue=self, job_class=self.job_class, serializer=self.serializer)

    @property
    def finished_job_registry(self):
        return _Finished(queue=self, job_class=self.job_class, serializer=self.serializer)

    @property
    def failed_job_registry(self):
        return _Failed(queue=self, job_class=self.job_class, serializer=self.serializer)


__all__ = ["TaskqWorker", "TaskqSimpleWorker", "TaskqPoolWorker", "TaskqQueue", "TaskqJob",
           "HeldLease", "rq_job_id", "task_id_of", "stop_task"]
