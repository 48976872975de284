"""The torture run's verdict (scripts/torture.py): what the engine and the
task bodies' side channel say happened to every acknowledged task, and which
of those figures must be 0."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from taskq import Keys

TERMINAL = ("completed", "failed", "cancelled")
FAILING = ("lost", "unexpected_outcome", "completed_twice", "dependents_released_early",
           "concurrency_overlaps", "stuck_running_without_lease", "still_running",
           "processes_died_on_their_own", "tracebacks_in_logs")
"""The figures that fail the run unless 0."""


def recovery_figures(kills: list[tuple[int, float]]) -> dict:
    """Over the kills that met a worker holding tasks: how many, how many
    tasks they held, and the median and worst time until all were freed."""
    held = [(n, t) for n, t in kills if n]
    if not held:
        return {"kills_holding_tasks": 0}
    times = [t for _, t in held]
    return {"kills_holding_tasks": len(held), "tasks_held": sum(n for n, _ in held),
            "median": round(statistics.median(times), 2), "max": round(max(times), 2)}


def tracebacks(logs: str) -> int:
    """Tracebacks in the process logs, but for the planned task failures
    that RQ logs with theirs."""
    blocks = logs.split("Traceback (most recent call last)")[1:]
    return sum(1 for b in blocks if "planned failure" not in b.split("\n\n")[0])


def completed_total(client, queues) -> int:
    return sum(int(client.hget(Keys().queue(n).stats, "completed") or 0) for n in queues)


def side_channel(path: Path):
    """From the bodies' lines (S start / E end, task, attempt, pid, time,
    concurrency key): runs started per task, and each concurrency key's
    (start, end) intervals."""
    starts: dict[str, int] = defaultdict(int)
    open_runs: dict[tuple, tuple[float, str]] = {}
    intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
    if path.exists():
        for line in path.read_text().splitlines():
            what, tid, attempt, pid, t, ckey = line.split()
            run = (tid, attempt, pid)
            if what == "S":
                starts[tid] += 1
                open_runs[run] = (float(t), ckey)
            elif run in open_runs:
                begun, ckey = open_runs.pop(run)
                if ckey != "-":
                    intervals[ckey].append((begun, float(t)))
    return starts, intervals


def overlaps(intervals: dict[str, list[tuple[float, float]]]) -> int:
    """Runs that began before an earlier run of the same key had ended."""
    n = 0
    for spans in intervals.values():
        spans.sort()
        end = float("-inf")
        for begun, ended in spans:
            if begun < end:
                n += 1
            end = max(end, ended)
    return n


def all_ended(client, ids: list[str], batch: int = 10_000) -> bool:
    """Whether every one of ``ids`` has reached a terminal status (read per
    task: the terminal indexes also hold tasks the producer did not make,
    such as the probes enqueued after each Redis restart)."""
    for start in range(0, len(ids), batch):
        pipe = client.pipeline(transaction=False)
        for tid in ids[start:start + batch]:
            pipe.hget(Keys().queue(tid.split(":")[0]).task(tid), "status")
        if any(s not in TERMINAL for s in pipe.execute()):
            return False
    return True


def check(client, producer, side: Path, queues: tuple[str, ...]) -> dict:
    """The checks and figures over every task the producer had acknowledged
    (``producer.expected``: id -> outcome; ``planned``: id -> runs of the
    body it plans; ``edges``: (dependency, dependent) pairs)."""
    ids = list(producer.expected)
    pipe = client.pipeline(transaction=False)
    for tid in ids:
        pipe.hmget(Keys().queue(tid.split(":")[0]).task(tid), "status", "started", "finished",
                   "expires")
    rows = dict(zip(ids, pipe.execute()))
    now_ms = int(client.time()[0]) * 1000
    lost = [t for t, (s, *_r) in rows.items() if s not in TERMINAL]
    wrong = [t for t, (s, *_r) in rows.items() if s in TERMINAL and s != producer.expected[t]]
    stuck = [t for t, (s, _st, _f, exp) in rows.items()
             if s == "running" and (exp is None or int(exp) < now_ms)]
    early = [(a, b) for a, b in producer.edges
             if rows[b][1] and (not rows[a][2] or int(rows[b][1]) < int(rows[a][2]))]
    # The engine counts each accepted completion; a second one of a task
    # would make the count exceed the tasks in the completed index.
    counted = completed_total(client, queues)
    completed_tasks = sum(client.zcard(Keys().queue(n).status_index("completed")) for n in queues)
    starts, intervals = side_channel(side)
    reran = [t for t in ids if starts.get(t, 0) > producer.planned[t]]
    return {
        "acknowledged": len(ids),
        "lost": len(lost), "lost_ids": lost[:10],
        "unexpected_outcome": len(wrong), "unexpected_ids": wrong[:10],
        "completed_twice": counted - completed_tasks,
        "dependents_released_early": len(early),
        "concurrency_overlaps": overlaps(intervals),
        "stuck_running_without_lease": len(stuck),
        "still_running": sum(1 for s, *_r in rows.values() if s == "running"),
        "bodies_ran_more_than_planned": len(reran),
        "extra_body_runs": sum(starts.get(t, 0) - producer.planned[t] for t in reran),
    }
