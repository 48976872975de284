"""``rq worker -w workers.rq_worker.TaskqPoolWorker``: RQ's worker
registration, heartbeats and signals around the threaded workers.pool."""

from __future__ import annotations

import os
import signal
import threading
import time

import redis
from rq.worker import BaseWorker, WorkerStatus

from taskq import Keys
from taskq.keys import DEFAULT_PREFIX

from .handlers import handlers_to_publish
from .outage import OUTAGE_ERRORS, Outage, pubsub_outage_pause
from .rq_process import (ClusterConnection, env_lease, signals_to_main_thread, subscribe_to_commands,
                         taskq_client)
from .rq_startup import check_queue_names, start_check


class TaskqPoolWorker(ClusterConnection, BaseWorker):
    """RQ's registration, heartbeats and signals around workers.pool's
    threaded PoolWorker (TASKQ_CONCURRENCY threads, default 8), which does
    its own claiming, lease renewal and taskq registry heartbeats.

    First SIGTERM / SIGINT: stop claiming, finish what is in flight, exit.
    A second one a second or more later: give the leases back and exit.
    ``--max-jobs``, ``--max-idle-time`` and ``rq suspend`` do not apply."""

    def __init__(self, queues, *args, lease: float | None = None, prefix: str | None = None,
                 concurrency: int | None = None, **kwargs):
        super().__init__(queues, *args, **kwargs)
        check_queue_names(self.queue_names())
        self.handlers = handlers_to_publish(self.queue_names())
        self.keys = Keys(prefix or DEFAULT_PREFIX)
        self.taskq = taskq_client(self.connection)
        start_check(self.taskq, self.keys.prefix, self.log)
        self.lease_seconds = float(lease or env_lease())
        self.concurrency = int(concurrency or os.environ.get("TASKQ_CONCURRENCY") or 8)
        self._stop_at: float | None = None
        self._cold = False

    def subscribe(self):
        subscribe_to_commands(self)

    def _pubsub_exception_handler(self, exc, pubsub, pubsub_thread):
        pubsub_outage_pause(getattr(self, "outage", None), exc, lambda: super(
            TaskqPoolWorker, self)._pubsub_exception_handler(exc, pubsub, pubsub_thread))

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
                          lease=self.lease_seconds, prefix=self.keys.prefix, worker_id=self.name,
                          handlers=self.handlers)
        pool.outage = self.outage = Outage(pool.outage.log, f"Worker {self.name}")
        self._install_signal_handlers()
        self.set_state(WorkerStatus.BUSY)
        failure: list[BaseException] = []

        def run():
            try:
                pool.run(burst=burst)
            except BaseException as exc:  # reported by the main thread
                failure.append(exc)

        thread = threading.Thread(target=run, name="taskq-pool")
        with signals_to_main_thread():  # the pool starts its own threads from this one
            thread.start()
        told = (False, False)
        outage = pool.outage  # one pair of lines for the pool and RQ's heartbeat
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
                except OUTAGE_ERRORS as exc:
                    outage.lost(exc, advance=False)
                except redis.RedisError as exc:
                    self.log.warning("Worker %s: RQ heartbeat: %s", self.name, exc)
            if failure:
                self.log.error("Worker %s: pool stopped on %r", self.name, failure[0])
        finally:
            self.teardown()
        return bool(pool.completed or pool.failed)
