"""Step code for the retry-limit and custom-event workflow tests (imported by
a real `taskq worker`); coordination goes through Redis lists the test names
in the workflow's context."""

from __future__ import annotations

from taskq import current_task
from taskq.connection import get_redis


def gated_flaky(context, inputs, dependencies):
    """First attempt: say it runs, wait for the test's go, then fail.
    Later attempts succeed."""
    attempt = current_task().attempt
    if attempt == 1:
        r = get_redis()
        r.rpush(context["running_key"], "1")
        if not r.blpop([context["go_key"]], timeout=20):
            raise TimeoutError("the test never said go")
        raise ConnectionError("gateway timeout on attempt 1")
    return {"attempt": attempt}


def charge(context, inputs, dependencies):
    return {"charged": context.get("amount", 0), "currency": "USD"}


def noop(context, inputs, dependencies):
    return None
