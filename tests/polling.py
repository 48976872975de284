"""Waiting on a condition, the one loop every test uses (never a fixed
sleep: a busy machine makes any fixed time too short)."""

from __future__ import annotations

import time
from typing import Any, Callable


def poll(cond: Callable[[], Any], timeout: float, every: float = 0.05) -> Any:
    """cond()'s first truthy value within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(every)
    return None


def until(cond: Callable[[], Any], what: str = "condition", timeout: float = 10.0,
          details: Callable[[], str] = lambda: "") -> Any:
    """cond()'s first truthy value; AssertionError naming ``what`` (and the
    ``details`` that explain it, e.g. process logs) when it never comes."""
    value = poll(cond, timeout)
    if value:
        return value
    raise AssertionError(f"timed out waiting for {what}\n{details()}")
