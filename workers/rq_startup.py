"""The start of an ``rq worker`` running a taskq class: Redis loaded, data in
this release's key schema (taskq.startup), as for every taskq process.

RQ's ``worker`` command asks Redis whether workers are suspended before it
builds the worker class; against a Redis loading its data set that question
fails, and RQ ends the command (it catches the ConnectionError and exits 1).
RQ imports the worker class first, and with it this module, which makes that
one question wait for the load (one line) before it is asked. Nothing
changes for a Redis that is not loading, nor outside the ``rq`` command.
"""

from __future__ import annotations

import logging
import sys

from taskq.schema import SchemaError
from taskq.startup import ready, wait_while_loading

RQ_LOG = logging.getLogger("rq.worker")


def start_check(client, prefix: str, log: logging.Logger = RQ_LOG) -> None:
    """Wait while Redis loads; data in another key schema ends the process
    with one line and status 1, before RQ registers the worker. An
    unreachable Redis is raised (RQ's command reports it in one line)."""
    try:
        ready(client, prefix, say=log.warning)
    except SchemaError as exc:
        print(f"taskq: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def check_queue_names(names) -> None:
    """Refuse a bad queue name in one line and exit 2, as ``taskq worker``
    does: RQ's ``worker`` command would print the TaskqValueError with a
    traceback (it logs any exception of the worker class's constructor)."""
    from taskq.errors import TaskqValueError
    from taskq.options import check_queue_name

    for name in names:
        try:
            check_queue_name(name)
        except TaskqValueError as exc:
            print(f"taskq: invalid queue {name!r}: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None


def _wait_in_rq_command() -> None:
    command = sys.modules.get("rq.cli.workers")
    asked = getattr(command, "is_suspended", None)
    if asked is None or getattr(asked, "waits_for_loading", False):
        return

    def is_suspended(connection, worker=None):
        wait_while_loading(connection, say=RQ_LOG.warning)
        return asked(connection, worker)

    is_suspended.waits_for_loading = True
    command.is_suspended = is_suspended


_wait_in_rq_command()
