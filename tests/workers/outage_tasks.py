"""Task bodies for the Redis-outage tests: they touch no Redis (an outage
must not fail them), and leave one line per run in a file, so a test can
count how often each task really ran."""

from __future__ import annotations

import time

from taskq import current_task


def note_run(path: str, seconds: float = 0.0) -> str:
    time.sleep(seconds)
    with open(path, "a") as f:
        f.write(current_task().id + "\n")
    return "ran"


def boom(message: str) -> None:
    raise ValueError(message)
