"""Pipeline steps: Python functions registered by name, run by workers.

A pipeline entry ``{"step": "echo", "args": {"message": "hi"}}`` becomes an
engine task whose function is :func:`run_step`; a worker looks the step up
here (a step registered in a module the worker imports) or imports it when
the name is ``module:function``.

    from taskq.schedules import step

    @step("resize")
    def resize(path, width=800): ...
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from ..context import current_task
from ..functions import resolve

RUN_STEP = "taskq.schedules.steps:run_step"
"""The engine function name of every pipeline task."""
MAX_SLEEP = 3600.0

_STEPS: dict[str, Callable[..., Any]] = {}
log = logging.getLogger("taskq.schedules")


def step(name: str):
    """Register a function as the pipeline step ``name``."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        _STEPS[name] = fn
        return fn

    return wrap


def names() -> list[str]:
    return sorted(_STEPS)


def is_known(name: str) -> bool:
    """Registered here, or a ``module:function`` a worker can import."""
    if name in _STEPS:
        return True
    module, sep, attr = name.partition(":")
    return bool(sep and module and attr) and len(name) <= 256


def run_step(step: str, args: dict | None = None) -> Any:
    fn = _STEPS.get(step) or resolve(step)
    return fn(**(args or {}))


@step("echo")
def echo(message: str = "") -> str:
    """Log ``message`` on the task (taskq.current_task().log) and return it."""
    ctx = current_task()
    if ctx is not None:
        ctx.log(str(message))
    else:
        log.info("echo: %s", message)
    return message


@step("sleep")
def sleep(seconds: float = 1.0) -> float:
    """Sleep ``seconds`` (at most MAX_SLEEP)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError("sleep: seconds must be a number >= 0")
    time.sleep(min(float(seconds), MAX_SLEEP))
    return seconds
