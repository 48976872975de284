"""One task's events (created, started, retrying, completed, ...) read back
from its queue's event stream, oldest first.

The stream is shared by the queue's tasks and capped (EVENTS_MAXLEN in
lua/includes/codes.lua), so there is no per-task index: the read covers
only the stream ids from the task's creation to its end (stream ids are
Redis-clock milliseconds, the clock the scripts stamp tasks with), examines
at most SCAN_CAP entries, and says when it stopped early or when the
task's first events have already been trimmed away.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..isotime import iso_ms
from ..keys import Keys
from ..task import Task

SCAN_CAP = 5000
"""Stream entries one read examines at most."""
CHUNK = 500
END_SLACK_MS = 1000
"""Events of a finished task are looked for up to this long after its end."""


@dataclass
class Timeline:
    events: list[dict] = field(default_factory=list)
    truncated: bool = False
    """Stopped after SCAN_CAP entries: later events may be missing."""
    trimmed: bool = False
    """The stream no longer reaches back to the task's creation."""


def _ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


def timeline(redis, keys: Keys, task: Task, cap: int = SCAN_CAP) -> Timeline:
    """The task's events as [{at (ISO), event, fields}], oldest first."""
    stream = keys.queue(task.queue).events
    created = int(float(task.raw.get("created") or 0))
    finished = task.raw.get("finished")
    end = f"{int(float(finished)) + END_SLACK_MS}" if finished else "+"
    out = Timeline()
    first = redis.xrange(stream, "-", "+", count=1)
    first_ms = _ms(first[0][0]) if first else None
    start, seen = str(created), 0
    while True:
        want = min(CHUNK, cap - seen)
        if want <= 0:
            out.truncated = True
            break
        batch = redis.xrange(stream, start, end, count=want)
        seen += len(batch)
        for entry_id, fields in batch:
            if fields.get("id") == task.id:
                extra = {k: v for k, v in fields.items() if k not in ("event", "id")}
                out.events.append({"at": iso_ms(_ms(entry_id)),
                                   "event": fields.get("event", ""), "fields": extra})
        if len(batch) < want:
            break
        start = "(" + batch[-1][0]
        if seen >= cap:  # is anything left past the cap?
            out.truncated = bool(redis.xrange(stream, start, end, count=1))
            break
    # trimmed: the stream starts after the task was created, or in that very
    # millisecond without the task's own "created" entry
    out.trimmed = first_ms is not None and (first_ms > created or (
        first_ms == created and not any(e["event"] == "created" for e in out.events)))
    return out
