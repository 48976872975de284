"""The one place a task function's return value becomes a result (every
worker kind, plain and async def functions alike)."""

from __future__ import annotations

import inspect
from typing import Any

from .task_errors import NotAResult


_PLAIN = frozenset({type(None), bool, int, float, str, bytes, list, dict, tuple})


def checked_result(name: str, value: Any) -> Any:
    """``value`` when it is a function's value; NotAResult (after closing
    it, so Python warns of nothing) when the work it stands for never ran:
    a generator or an async generator (its body never ran), or an awaitable
    a coroutine returned (awaited once already: a second await is not run)."""
    if type(value) in _PLAIN:  # most results: no inspection needed
        return value
    what = None
    if inspect.iscoroutine(value):
        what = f"a coroutine (from async def {value.__qualname__})"
    elif inspect.isasyncgen(value):
        what = f"an async generator (from async def {value.__qualname__})"
    elif inspect.isgenerator(value):
        what = f"a generator (from {value.__qualname__}, a function that yields)"
    elif inspect.isawaitable(value):
        what = f"an awaitable {type(value).__qualname__}"
    if what is None:
        return value
    close = getattr(value, "close", None)
    if callable(close) and not inspect.isasyncgen(value):
        try:
            close()
        except Exception:
            pass
    raise NotAResult(f"{name} returned {what}, not a value: its work did not run "
                     f"(taskq workers await what a function returns once, and do not "
                     f"iterate generators)")
