"""The taskq RQ workers through a Redis outage. RQ's own calls between and
around jobs (its heartbeat, command channel, suspension check, registry
cleanup, informational writes) would end the worker on a connection error
outside any handler of ours; here each waits the outage out or is skipped,
and says so through the worker's one Outage (workers.outage)."""

from __future__ import annotations

import time

from .outage import OUTAGE_ERRORS, Outage, pubsub_outage_pause

REPORT_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0)
"""Waits between tries of a report that met a Redis connection error (every
report is idempotent for its lease token, so trying again is safe): a
finished task's outcome rides out an outage of about a minute (a restart, a
failover) instead of being lost to its lease's expiry."""
RQ_HEARTBEAT_EVERY = 5.0
"""RQ's own worker heartbeat (two round trips; its key lives for minutes)
is sent at most this often between jobs."""


def retrying(call, outage: Outage, log, what: str):
    """Run a report, trying again through a short Redis outage (the
    outage's one line when it begins and one when it ends, and a line
    for the report that got through after it)."""
    failed = False
    for delay in REPORT_RETRY_DELAYS:
        try:
            result = call()
        except OUTAGE_ERRORS as exc:
            outage.lost(exc, advance=False)
            failed = True
            time.sleep(delay)
            continue
        if failed:
            outage.ok()
            log.info("%s: reported after Redis came back", what)
        return result
    return call()


class RidesOutages:
    """RQ Worker overrides; the worker has ``outage`` (an Outage), ``log``,
    ``name``, ``_stop_requested`` and ``_next_rq_beat``."""

    def heartbeat(self, timeout: int | None = None, pipeline=None):
        # RQ sends its plain heartbeat (two round trips) after every job;
        # its key lives for worker_ttl, so between jobs once in a while is
        # enough. Heartbeats with a timeout or in a pipeline go through.
        now = time.monotonic()
        if timeout is None and pipeline is None:
            if now < self._next_rq_beat:
                return
            self._next_rq_beat = now + RQ_HEARTBEAT_EVERY
        try:
            super().heartbeat(timeout, pipeline)
        except OUTAGE_ERRORS as exc:
            if pipeline is not None:
                raise
            self.outage.lost(exc, advance=False)

    def _pubsub_exception_handler(self, exc, pubsub, pubsub_thread):
        """RQ's command channel thread: through an outage it retries every
        2 s, logging each try; here the outage's lines say it once."""
        rqs = super()._pubsub_exception_handler
        pubsub_outage_pause(self.outage, exc, lambda: rqs(exc, pubsub, pubsub_thread))

    # RQ's work loop calls these between jobs, outside every handler of
    # ours; RQ would end the worker on their connection error.
    def check_for_suspension(self, burst: bool):
        """RQ's ``rq suspend`` check, waiting out a Redis outage."""
        while True:
            try:
                super().check_for_suspension(burst)
            except OUTAGE_ERRORS as exc:
                self.outage.pause(self.outage.lost(exc), lambda: self._stop_requested)
                if self._stop_requested:
                    return
                continue
            if self.outage.down:
                self.outage.ok(wrote=False)  # a read: a full Redis is still full
            return

    def run_maintenance_tasks(self):
        """RQ's registry cleanup; in an outage it waits for the next round."""
        try:
            super().run_maintenance_tasks()
        except OUTAGE_ERRORS as exc:
            self.outage.lost(exc, advance=False)

    # RQ's informational writes (``rq info``'s state and working time) are
    # made outside any handler of RQ's; in an outage they would end the
    # worker, or leave a running horse behind: skip them instead.
    def set_state(self, state, pipeline=None):
        try:
            super().set_state(state, pipeline=pipeline)
        except OUTAGE_ERRORS:
            if pipeline is not None:
                raise

    def set_current_job_working_time(self, current_job_working_time, pipeline=None):
        try:
            super().set_current_job_working_time(current_job_working_time, pipeline=pipeline)
        except OUTAGE_ERRORS:
            if pipeline is not None:
                raise
