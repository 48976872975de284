"""Saying in the log when firing falls behind its due times.

A scheduler that fires late (a slow next-run computation, an overloaded
host, too many due schedules for one pass) otherwise only shows as runs
coming less often than asked. Each firing pass keeps a ``PassReport``; a
pass that fired a schedule more than LATE_MS after its due time, or took
longer than SLOW_PASS_S, logs one warning saying how late, how long, and
which schedule's next-run computation was slowest; at most one such line
per EVERY_S per process.
"""

from __future__ import annotations

import logging
import threading
import time

LATE_MS = 5_000
"""A fire this long after its due time is late (the scheduler ticks every second)."""
SLOW_PASS_S = 1.0
"""A pass longer than a scheduler tick is slow."""
EVERY_S = 60.0
"""At most one "behind" line per this many seconds, per process."""

log = logging.getLogger("taskq.schedules")
clock = time.monotonic
"""The clock of the rate limit (replaced in tests)."""
_lock = threading.Lock()
_last_line = [float("-inf")]


class PassReport:
    """What one firing pass saw: due schedules, how late, where the time went."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.due = self.late = 0
        self.latest_ms, self.latest_id = 0, None
        self.planning_s = self.slowest_s = 0.0
        self.slowest_id = None

    def planned(self, sid: str, due_ms: int, now_ms: int, seconds: float) -> None:
        """One due schedule: its due time, the fire's time, the seconds its
        next-run computation took."""
        self.due += 1
        late = now_ms - due_ms
        if late > LATE_MS:
            self.late += 1
            if late > self.latest_ms:
                self.latest_ms, self.latest_id = late, sid
        self.planning_s += seconds
        if seconds > self.slowest_s:
            self.slowest_s, self.slowest_id = seconds, sid

    def finish(self) -> bool:
        """Log the pass if it fell behind (rate-limited); True when it logged."""
        took = time.perf_counter() - self.started
        if not self.late and took <= SLOW_PASS_S:
            return False
        with _lock:
            now = clock()
            if now - _last_line[0] < EVERY_S:
                return False
            _last_line[0] = now
        log.warning(
            "schedules: firing is behind: %d of %d due schedules fired more than %.0f s late "
            "(latest: schedule %s, %.1f s late); the pass took %.2f s, %.2f s of it computing "
            "next runs (slowest: schedule %s, %.1f ms)",
            self.late, self.due, LATE_MS / 1000, self.latest_id, self.latest_ms / 1000, took,
            self.planning_s, self.slowest_id, self.slowest_s * 1000)
        return True
