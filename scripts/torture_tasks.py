"""Task bodies of the torture run (scripts/torture.py): each execution
writes a start line and, if it gets that far, an end line to a side channel
(one append-only file, one write per line), so "ran twice" (allowed after a
kill) can be told apart from "completed twice" (never), and runs sharing a
concurrency key can be checked for overlap."""

from __future__ import annotations

import asyncio
import os
import time

from taskq import current_task


def _note(path: str, what: str, ckey: str) -> None:
    task = current_task()
    line = f"{what} {task.id} {task.attempt} {os.getpid()} {time.time():.6f} {ckey or '-'}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def work(path: str, sleep_ms: int = 0, fail_attempts: int = 0, ckey: str = "") -> str:
    """Sleep ``sleep_ms``; raise on the first ``fail_attempts`` attempts."""
    _note(path, "S", ckey)
    time.sleep(sleep_ms / 1000)
    if current_task().attempt <= fail_attempts:
        _note(path, "F", ckey)
        raise RuntimeError(f"planned failure of attempt {current_task().attempt}")
    _note(path, "E", ckey)
    return "ok"


async def awork(path: str, sleep_ms: int = 0, fail_attempts: int = 0, ckey: str = "") -> str:
    """:func:`work` as a coroutine: the pool worker runs it on its event
    loop, the rq classes on their process's loop."""
    _note(path, "S", ckey)
    await asyncio.sleep(sleep_ms / 1000)
    if current_task().attempt <= fail_attempts:
        _note(path, "F", ckey)
        raise RuntimeError(f"planned failure of attempt {current_task().attempt}")
    _note(path, "E", ckey)
    return "ok"
