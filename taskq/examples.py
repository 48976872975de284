"""Task functions that ship with taskq, so the README's examples run as
written on a fresh clone (the worker imports them like any ``module:function``)."""

from __future__ import annotations

from .functions import task


def add(a, b):
    """``taskq.examples:add``: the sum of two numbers."""
    return a + b


@task(queue="default", max_retries=2)
def greet(name: str) -> str:
    """A ``@task`` on the queue ``bash scripts/run``'s worker serves:
    ``greet.enqueue("Ada")``, or ``greet("Ada")`` to call it in-process."""
    return f"hello, {name}"


def noop():
    """``taskq.examples:noop``: does nothing (load tests, scripts/soak.py)."""
    return None


def fail(message: str = "planned failure"):
    """``taskq.examples:fail``: raises, so the task fails (or is retried)."""
    raise RuntimeError(message)
