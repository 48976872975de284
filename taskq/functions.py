"""The @task decorator and name resolution for workers.

A task's name defaults to ``module:qualname``, so a worker that has not
imported the module can still find the function by importing it; a custom
name works in workers that import the module defining it.

    @task(queue="emails", max_retries=5)
    def send_email(to): ...

    send_email.enqueue(to="x@example.com", priority=8)
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, Callable

from .errors import TaskqValueError
from .options import OPTION_NAMES
from .queue import Queue

_REGISTRY: dict[str, Callable[..., Any]] = {}


class TaskFunction:
    """A function that runs as itself when called and enqueues with .enqueue."""

    def __init__(self, fn: Callable[..., Any], name: str, queue: Any, defaults: dict):
        unknown = set(defaults) - OPTION_NAMES
        if unknown:
            raise TaskqValueError(f"unknown task option(s): {', '.join(sorted(unknown))}")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.taskq_name = name
        self._queue = queue
        self.defaults = defaults

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    @property
    def queue(self):
        if not isinstance(self._queue, Queue):
            self._queue = Queue(self._queue)
        return self._queue

    def enqueue(self, *args: Any, **kwargs: Any):
        options = {**self.defaults, **{k: kwargs.pop(k) for k in list(kwargs) if k in OPTION_NAMES}}
        return self.queue.enqueue_call(self.taskq_name, args=args, kwargs=kwargs, **options)

    def enqueue_call(self, args=(), kwargs=None, **options: Any):
        return self.queue.enqueue_call(self.taskq_name, args=args, kwargs=kwargs,
                                       **{**self.defaults, **options})


def task(fn: Callable[..., Any] | None = None, *, name: str | None = None,
         queue: Any = "default", **defaults: Any):
    """Register a function as a task (usable bare or with options)."""

    def wrap(f: Callable[..., Any]) -> TaskFunction:
        tname = name or f"{f.__module__}:{f.__qualname__}"
        tf = TaskFunction(f, tname, queue, defaults)
        _REGISTRY[tname] = f
        return tf

    return wrap(fn) if fn is not None else wrap


def resolve(name: str) -> Callable[..., Any]:
    """The callable for a task name: registered, else imported ``module:attr``
    (``module.attr`` is accepted too)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    module, sep, attr = name.partition(":")
    if not sep:
        module, _, attr = name.rpartition(".")
    if not module or not attr:
        raise LookupError(f"cannot resolve task {name!r}")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return getattr(obj, "fn", obj) if isinstance(obj, TaskFunction) else obj
