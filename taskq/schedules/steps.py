"""Pipeline steps: Python functions registered by name, run by workers.

A pipeline entry ``{"step": "echo", "args": {"message": "hi"}}`` becomes an
engine task whose function is :func:`run_pipeline_step`; a worker looks the step up
here (a step registered in a module the worker imports) or imports it when
the name is ``module:function``.

    from taskq.schedules import step

    @step("resize")
    def resize(path, width=800): ...
"""

from __future__ import annotations

import inspect
import logging
import time
from functools import lru_cache
from typing import Any, Callable

from ..context import current_task
from ..functions import resolve

RUN_STEP = "taskq.schedules.steps:run_step"
"""The engine function name of every pipeline task: the name earlier
releases stored too (:data:`run_step` names :func:`run_pipeline_step`), so
a worker of the previous release still runs the tasks a newer scheduler
makes during a rolling upgrade."""
MAX_SLEEP = 3600.0

_STEPS: dict[str, Callable[..., Any]] = {}
_CHECKS: dict[str, Callable[[dict], None]] = {}
log = logging.getLogger("taskq.schedules")


def step(name: str, check: Callable[[dict], None] | None = None):
    """Register a function as the pipeline step ``name``. A schedule's
    ``args`` for it must bind to its signature; ``check(args)``, when
    given, raises ValueError for values it refuses (both at creation)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        _STEPS[name] = fn
        if check is None:
            _CHECKS.pop(name, None)
        else:
            _CHECKS[name] = check
        return fn

    return wrap


@lru_cache(maxsize=256)
def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)


def check_args(name: str, args: dict) -> None:
    """Raise ValueError saying what is wrong when ``args`` are not what
    step ``name`` accepts: an unknown or missing argument (its signature),
    a value its check refuses. A ``module:function`` step is not imported
    here (that would run its module's code), so its arguments are not checked."""
    fn = _STEPS.get(name)
    if fn is None:
        return
    try:
        _signature(fn).bind(**args)
    except TypeError as e:
        raise ValueError(f"{name}: {e}") from None
    check = _CHECKS.get(name)
    if check is not None:
        check(args)


def names() -> list[str]:
    return sorted(_STEPS)


def is_known(name: str) -> bool:
    """Registered here, or a ``module:function`` a worker can import."""
    if name in _STEPS:
        return True
    module, sep, attr = name.partition(":")
    return bool(sep and module and attr) and len(name) <= 256


def run_pipeline_step(step: str, args: dict | None = None) -> Any:
    fn = _STEPS.get(step) or resolve(step)
    return fn(**(args or {}))


run_step = run_pipeline_step
"""The name pipeline tasks carry (RUN_STEP), stable across releases; a
workflow step's engine function is taskq.workflows.runner.run_step."""


def _check_echo(args: dict) -> None:
    if not isinstance(args.get("message", ""), str):
        raise ValueError("echo: message must be a string")


def _sleep_seconds(seconds: Any) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not 0 <= seconds <= MAX_SLEEP:
        raise ValueError(f"sleep: seconds must be a number from 0 to {MAX_SLEEP:g}")
    return float(seconds)


@step("echo", check=_check_echo)
def echo(message: str = "") -> str:
    """Log ``message`` on the task (taskq.current_task().log) and return it."""
    ctx = current_task()
    if ctx is not None:
        ctx.log(str(message))
    else:
        log.info("echo: %s", message)
    return message


def _check_sleep(args: dict) -> None:
    _sleep_seconds(args.get("seconds", 1.0))


@step("sleep", check=_check_sleep)
def sleep(seconds: float = 1.0) -> float:
    """Sleep ``seconds`` (0 to MAX_SLEEP)."""
    time.sleep(_sleep_seconds(seconds))
    return seconds
