"""Sleeping until the next schedule comes due, in the ``taskq scheduler`` loop.

The firing step answers how long until the earliest due time (see
firing.upkeep); the loop sleeps that long, at most its tick interval, and a
change that makes a schedule due sooner (schedule-5.lua) pushes to the wake
list, so a sleeping scheduler wakes, fires nothing yet and sleeps anew to
the new earliest time. The sleep is a BLPOP on that list; Redis expires a
blocking command's timeout on its server cron (every 100 ms at the default
``hz 10``), so the BLPOP ends up to BLPOP_SLACK before the due time and the
rest is slept locally: a run starts within milliseconds of its due time, not
within a tenth of a second. Nothing here polls: a sleep ends at a due time,
a tick or a wake.
"""

from __future__ import annotations

import time
from typing import Callable

from ..keys import ScheduleKeys

BLPOP_SLACK = 0.12
"""Seconds a BLPOP may overrun its timeout (Redis's 100 ms server cron),
with a margin: shorter sleeps are local."""
MAX_BLOCK = 1.0
"""Seconds one BLPOP blocks at most, so a stop request is seen this soon
(one command a second at most, as the default tick)."""


def sleep_seconds(interval_left: float, until_due: float | None) -> float:
    """How long the loop sleeps: until its next tick, or the earliest due
    schedule when that comes first (``until_due`` None: none is timed)."""
    if until_due is None:
        return max(0.0, interval_left)
    return max(0.0, min(interval_left, until_due))


def wait(client, sk: ScheduleKeys, seconds: float,
         should_stop: Callable[[], bool] = lambda: False) -> bool:
    """Sleep ``seconds`` (see sleep_seconds) unless woken; True when a
    schedule change woke it (the caller recomputes its sleep)."""
    until = time.monotonic() + seconds
    while not should_stop():
        left = until - time.monotonic()
        if left <= 0:
            return False
        if left > BLPOP_SLACK + 0.01:
            if client.blpop([sk.wake], timeout=min(MAX_BLOCK, left - BLPOP_SLACK)):
                return True
            continue
        time.sleep(left)
        return False
    return False
