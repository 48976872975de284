"""Running a coroutine from a test: ``asyncio.run`` in a thread of its own.

A test process may already have an event loop running in its main thread:
the browser tests' session-wide Playwright (its sync API drives a loop there)
stays up for every later test of that process, and ``asyncio.run`` refuses
to start beside it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, Coroutine


def run(coro: Coroutine) -> Any:
    return in_thread(lambda: asyncio.run(coro))


def in_thread(fn: Callable[[], Any]) -> Any:
    """``fn()`` called in a new thread; its value returned, its exception raised."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001  (raised again in the caller)
            box["error"] = exc

    thread = threading.Thread(target=target, name="test-asyncio-run")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
