"""How long finished tasks are kept, and how many.

Three levels, the first that is set wins:

- per task: the ``keep_completed`` / ``keep_failed`` enqueue options
  (seconds; 0: removed at the queue's next upkeep visit);
- per queue: :func:`set_queue_retention` (``Queue.set_retention``), stored in
  the queue's meta hash, read by the scripts;
- the default: TASKQ_KEEP_COMPLETED, TASKQ_KEEP_FAILED (seconds) and
  TASKQ_KEEP_COMPLETED_COUNT, TASKQ_KEEP_FAILED_COUNT (tasks per queue),
  read by ``taskq scheduler``, whose upkeep enforces them.

"Failed" covers cancelled tasks too (each status has its own count). A task
with a retention of its own or of its queue goes at its time (the
scheduler's upkeep visits the queue then); under the default, within
PRUNE_EVERY seconds of it. Counts are per queue and status, enforced on the
same pass. A removed task leaves a tombstone (its id and how it ended) for
TOMBSTONE_SECONDS, at most TOMBSTONE_COUNT per queue: dependencies on it,
a dedupe window it held and ``GET`` of it still know how it ended.

Workflow steps are kept as long as their workflow
(TASKQ_WORKFLOW_RETENTION): the defaults do not apply to the workflow
queue, whose steps the workflow sweep removes with their workflow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import TaskqValueError

DEFAULT_KEEP_COMPLETED = 3600.0
"""Seconds a completed task is kept by default (RQ keeps results 500 s)."""
DEFAULT_KEEP_FAILED = 7 * 24 * 3600.0
"""Seconds a failed or cancelled task is kept by default: long enough to look into."""
DEFAULT_KEEP_COMPLETED_COUNT = 1_000
"""Completed tasks kept per queue by default, at most (about 0.7 MB of Redis)."""
DEFAULT_KEEP_FAILED_COUNT = 1_000
"""Failed tasks (and, apart, cancelled ones) kept per queue by default, at most."""
TOMBSTONE_SECONDS = 24 * 3600
TOMBSTONE_COUNT = 10_000
"""Tombstones kept per queue, at most (about 120 bytes each: 1.2 MB)."""
TASK_OUTCOMES = ("completed", "failed", "cancelled")
"""A task tombstone's outcome codes 0, 1, 2 (lua/includes/retention.lua)."""
ENV = {"completed": "TASKQ_KEEP_COMPLETED", "failed": "TASKQ_KEEP_FAILED",
       "completed_count": "TASKQ_KEEP_COMPLETED_COUNT", "failed_count": "TASKQ_KEEP_FAILED_COUNT"}
META_FIELDS = {"completed": "keep_completed_ms", "failed": "keep_failed_ms",
               "completed_count": "keep_completed_count", "failed_count": "keep_failed_count"}
MAX_SECONDS = 100 * 365 * 24 * 3600
MAX_COUNT = 10 ** 12


@dataclass(frozen=True)
class Retention:
    """Seconds (completed, failed) and counts; None: not set at this level."""

    completed: float | None = None
    failed: float | None = None
    completed_count: int | None = None
    failed_count: int | None = None

    def script_args(self) -> list[str]:
        """The prune script's ARGV[1..4] ('' for not set)."""
        ms = [("" if v is None else str(round(v * 1000))) for v in (self.completed, self.failed)]
        return ms + ["" if v is None else str(v) for v in (self.completed_count, self.failed_count)]


NONE = Retention()


def tombstone_score(finished_ms: int, code: int) -> int:
    """A tombstone's zset score: when it ended and how (code < 4) in one number."""
    return finished_ms * 4 + code


def read_tombstone(score, outcomes: tuple[str, ...] = TASK_OUTCOMES) -> dict | None:
    """A tombstone's score (None: no tombstone) as {"status", "finished"}."""
    if score is None:
        return None
    finished, code = divmod(int(score), 4)
    return {"status": outcomes[code], "finished": finished}


def seconds(name: str, value) -> float:
    """A keep time in seconds: a finite number, 0 or more."""
    # the range check alone refuses NaN and infinities, and compares an int
    # of any size without converting it (math.isfinite overflows past 1e308)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_SECONDS:
        shown = "an integer out of range" if isinstance(value, int) and abs(value) > 10 ** 18 else repr(value)
        raise TaskqValueError(f"{name} must be a number of seconds from 0 to {MAX_SECONDS}, got {shown}")
    return float(value)


def count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise TaskqValueError(f"{name} must be a whole number from 0 to {MAX_COUNT}, got {value!r}")
    return value


def from_env(environ=os.environ) -> Retention:
    """The default retention: the TASKQ_KEEP_* settings, else the built-in
    defaults. A setting of "none" (or empty) means no limit of that kind."""
    def read(key: str, default, parse):
        text = environ.get(ENV[key])
        if text is None:
            return default
        text = text.strip().lower()
        if text in ("", "none"):
            return None
        try:
            number = float(text) if parse is seconds else int(text)
        except ValueError:
            raise TaskqValueError(f"{ENV[key]} must be a number or 'none', got {text!r}") from None
        return parse(ENV[key], number)

    return Retention(read("completed", DEFAULT_KEEP_COMPLETED, seconds),
                     read("failed", DEFAULT_KEEP_FAILED, seconds),
                     read("completed_count", DEFAULT_KEEP_COMPLETED_COUNT, count),
                     read("failed_count", DEFAULT_KEEP_FAILED_COUNT, count))


def set_queue_retention(client, meta_key: str, **settings) -> None:
    """Set (a value) or clear (None) the queue-level settings named in
    ``settings`` (completed, failed: seconds; completed_count,
    failed_count: tasks). Tasks that finish from then on follow it; the
    counts and the age of earlier ones, on the next upkeep pass."""
    unknown = set(settings) - set(META_FIELDS)
    if unknown:
        raise TaskqValueError(f"unknown retention setting(s): {', '.join(sorted(unknown))}")
    put, drop = {}, []
    for key, value in settings.items():
        if value is None:
            drop.append(META_FIELDS[key])
        elif key.endswith("_count"):
            put[META_FIELDS[key]] = count(key, value)
        else:
            put[META_FIELDS[key]] = round(seconds(key, value) * 1000)
    pipe = client.pipeline(transaction=False)
    if put:
        pipe.hset(meta_key, mapping=put)
    if drop:
        pipe.hdel(meta_key, *drop)
    pipe.execute()


def queue_retention(client, meta_key: str) -> Retention:
    """The queue-level settings (None where the queue has none)."""
    raw = client.hmget(meta_key, *META_FIELDS.values())
    ms = [None if v in (None, "") else int(v) / 1000 for v in raw[:2]]
    n = [None if v in (None, "") else int(v) for v in raw[2:]]
    return Retention(ms[0], ms[1], n[0], n[1])
