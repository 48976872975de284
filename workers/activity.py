"""What a worker says about the tasks it runs: one line per failed or
retried task (id, function, error class and message), and a summary line
every SUMMARY_EVERY seconds in which something happened. Completions are
logged one by one only at DEBUG (``--verbose``)."""

from __future__ import annotations

import logging
import threading
import time

SUMMARY_EVERY = 60.0
MESSAGE_CHARS = 300
"""A failure line carries at most this much of the error message."""


def describe(task) -> str:
    """What a task runs, for a log line: its function, else its command."""
    if task.func:
        return task.func
    command = task.meta.get("command") if isinstance(task.meta, dict) else None
    return f"command {command!r}"[:120] if command else "nothing to run"


def one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 3] + "..."


class Activity:
    """Counts since the last summary, and the lines about them."""

    def __init__(self, log: logging.Logger, who: str, every: float | None = None):
        self.log = log
        self.who = who
        self.every = SUMMARY_EVERY if every is None else every
        self._lock = threading.Lock()
        self._since = time.monotonic()
        self._counts = {"completed": 0, "failed": 0, "retried": 0, "cancelled": 0}

    def completed(self, task, n: int = 1) -> None:
        with self._lock:
            self._counts["completed"] += n
        if task is not None and self.log.isEnabledFor(logging.DEBUG):  # describe costs per task
            self.log.debug("%s: task %s (%s) completed", self.who, task.id, describe(task))

    def count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def failure(self, task, message: str, status: str, count: bool = True) -> None:
        """A reported failure; ``status`` is what the engine made of it
        ('retrying', 'failed' or 'cancelled'). ``count`` False: the line
        only (a forking worker counts in the parent what its horse said)."""
        if count:
            self.count({"retrying": "retried", "cancelled": "cancelled"}.get(status, "failed"))
        word = {"retrying": "failed, will retry", "cancelled": "cancelled"}.get(status, "failed")
        self.log.warning("%s: task %s (%s) %s: %s", self.who, task.id, describe(task), word,
                         one_line(message))

    def tick(self) -> None:
        """Log the summary when it is due and something happened."""
        now = time.monotonic()
        if now - self._since < self.every:
            return
        with self._lock:
            counts, self._counts = self._counts, dict.fromkeys(self._counts, 0)
            seconds, self._since = now - self._since, now
        if any(counts.values()):
            done = counts["completed"] + counts["failed"] + counts["retried"] + counts["cancelled"]
            self.log.info("%s: last %.0f s: %d completed, %d failed, %d retried, %d cancelled "
                          "(%.1f tasks/s)", self.who, seconds, counts["completed"],
                          counts["failed"], counts["retried"], counts["cancelled"],
                          done / seconds if seconds else 0.0)
