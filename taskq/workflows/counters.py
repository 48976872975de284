"""The format of the workflow stats hashes: one hash per epoch hour
(keys.WorkflowKeys.stats, with a TTL), the only writer being the scripts
wf_state-5.lua (via taskq.workflows.status), wf_facts-2.lua (via
taskq.workflows.outcomes) and
engine.create, the only reader :func:`read`.

Fields: ``w|<namespace>|<name>|<version>|<counter>`` per handler, counters
created, finished, complete, error, cancelled, retried, sum_ms and b<i>
(histogram bucket i of the workflow durations); and
``s|<namespace>|<name>|<version>|<step>|<counter>`` per step, counters
runs, errors, retries, sum_ms, b<i>, e:<error type>, and timeout (the
step's last known timeout in seconds, a value, not a count); and
``m|<epoch minute>|<counter>`` system-wide per minute the workflow finished
in (finished, complete, error, cancelled, retried, sum_ms), for trend
windows that slide to the minute. Names and versions never hold '|'
(handlers.NAME_RE, SEMVER_RE).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from ..keys import WorkflowKeys

MAX_PERIOD_HOURS = 168
"""The longest analytics period one can ask for."""
STATS_TTL = (MAX_PERIOD_HOURS + 2) * 3600
"""Seconds an hour's stats hash lives after its last write: every bucket a
168-hour period reads, plus the current and a spare hour."""


def hour_of(ms: int) -> int:
    return int(ms) // 3_600_000  # wf_state-5.lua computes the same


def workflow_prefix(namespace: str, name: str, version: str) -> str:
    """Counter field prefix of a handler's workflow facts (wf_state-5.lua
    builds the same from the three)."""
    return f"w|{namespace}|{name}|{version}|"


def step_prefix(namespace: str, name: str, version: str, step: str) -> str:
    """Counter field prefix of one step's attempt facts (wf_facts-2.lua builds
    the same from the workflow's record)."""
    return f"s|{namespace}|{name}|{version}|{step}|"


class Tally(defaultdict):
    """counter -> summed value; ``hist`` holds bucket -> count."""

    def __init__(self):
        super().__init__(int)
        self.hist: dict[int, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.timeout: float | None = None

    def merge(self, other: "Tally") -> None:
        for k, v in other.items():
            self[k] += v
        for b, c in other.hist.items():
            self.hist[b] += c
        for e, c in other.errors.items():
            self.errors[e] += c
        if other.timeout is not None:
            self.timeout = other.timeout


def read_hours(redis, wk: WorkflowKeys, hours: Iterable[int]) -> dict[int, tuple[dict, dict, dict]]:
    """Each hour's stats hash parsed (one round trip): hour -> (workflows,
    steps, minutes), {(ns, name, version): Tally}, {(ns, name, version,
    step): Tally} and {epoch minute: Tally}."""
    hours = sorted(hours)
    pipe = redis.pipeline(transaction=False)
    for h in hours:
        pipe.hgetall(wk.stats(h))
    out = {}
    for h, raw in zip(hours, pipe.execute()):
        workflows: dict[tuple, Tally] = defaultdict(Tally)
        steps: dict[tuple, Tally] = defaultdict(Tally)
        minutes: dict[int, Tally] = defaultdict(Tally)
        for field, value in raw.items():
            parts = field.split("|")
            if parts[0] == "w" and len(parts) == 5:
                _add(workflows[tuple(parts[1:4])], parts[4], value)
            elif parts[0] == "s" and len(parts) == 6:
                _add(steps[tuple(parts[1:5])], parts[5], value)
            elif parts[0] == "m" and len(parts) == 3 and parts[1].isdigit():
                _add(minutes[int(parts[1])], parts[2], value)
        out[h] = (dict(workflows), dict(steps), dict(minutes))
    return out


def read(redis, wk: WorkflowKeys, hours: Iterable[int]) -> tuple[dict, dict]:
    """The stats of ``hours`` summed, as read_hours gives one hour's."""
    workflows: dict[tuple, Tally] = defaultdict(Tally)
    steps: dict[tuple, Tally] = defaultdict(Tally)
    for h, (w, s, _) in sorted(read_hours(redis, wk, hours).items()):  # oldest first:
        for key, t in w.items():                                   # the last timeout wins
            workflows[key].merge(t)
        for key, t in s.items():
            steps[key].merge(t)
    return dict(workflows), dict(steps)


def total(tallies: Iterable["Tally"]) -> "Tally":
    out = Tally()
    for t in tallies:
        out.merge(t)
    return out


def _add(tally: Tally, counter: str, value: str) -> None:
    if counter == "timeout":
        tally.timeout = float(value)
    elif counter.startswith("e:"):
        tally.errors[counter[2:]] += int(value)
    elif counter.startswith("b") and counter[1:].isdigit():
        tally.hist[int(counter[1:])] += int(value)
    else:
        tally[counter] += int(value)
