"""A worker that serves the workflow queue publishes the handlers it can run.

At start it loads what the settings name (TASKQ_HANDLERS_PATH, TASKQ_EXAMPLES=1,
plus any handler registered in Python by a module imported so far) and
imports every step's ``handler_class``: a handler whose step code does not
import here would be published as runnable and fail at its first step, so
the worker refuses to start instead (one line, exit status 2). Once Redis
answers, it publishes them (taskq.workflows.publish), so the web process
lists them without importing any step code.

It publishes again after each Redis outage ends, not on a timer: published
definitions never expire, so only a Redis that came back without its data
has lost them (a restart, which every worker sees as an outage), while a
periodic rewrite would undo an operator's ``workflows.unpublish`` within
one period.
"""

from __future__ import annotations

import sys

from taskq.workflows import (WORKFLOW_QUEUE, HandlerDefinitionError, Registry, check_step_code,
                             load_configured)

from .activity import one_line


def handlers_to_publish(queues: list[str]) -> Registry | None:
    """The checked registry to publish, or None when the worker does not
    serve the workflow queue. A bad definition or step code that does not
    import ends the process: one line on stderr, exit status 2."""
    if WORKFLOW_QUEUE not in queues:
        return None
    try:
        reg = load_configured()
        check_step_code(reg)
    except HandlerDefinitionError as exc:
        print(f"taskq: workflow handlers: {one_line(str(exc))}", file=sys.stderr)
        raise SystemExit(2) from None
    return reg
