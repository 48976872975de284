"""Recording what workflows and their steps did, each fact exactly once.

Two kinds of fact, both counted into per-hour stats hashes (keys.WorkflowKeys.stats,
with a TTL of STATS_TTL) that taskq.workflows.analytics reads:

- A workflow's outcome (complete, error, cancelled), its duration (created
  to its last step's end) and whether a step needed a retry. Nothing writes
  a workflow's status (it is derived from its steps), so someone must notice
  the end: the sweep (taskq.workflows.sweep) and the status listings read
  open workflows' steps and, for each finished one, call wf_finish-20.lua,
  which removes it from the open '*' index and, only if that removal
  happened, moves its index entries and counts it. Any number of sweepers
  and readers racing count it once. An outcome is recorded once: a step
  changed afterwards (a failed step task retried by hand) does not re-count.
  A workflow whose record is still marked creating has steps that may not
  be enqueued yet: a missing one is pending, so it is not finished, unless
  the sweep says the creation is older than engine.CREATE_GRACE.
- A step attempt's duration, whether it was a retry, and the exception class
  name when its code raised. The runner measures them in the worker around
  the step's code (the engine task keeps only the error text and the last
  attempt's times) and counts them with wf_step-2.lua, guarded by a
  ``fact:<step>:<attempt>`` marker in the workflow's record, so a repeated
  call counts nothing. The facts are written when the code returns, before
  the worker reports the attempt: a worker killed by SIGKILL while the code
  runs loses that one attempt's facts (the reaped attempt is not counted;
  its retry, a new attempt number, is). A worker killed between the count
  and its report leaves an attempt that was counted and is run again: it
  did run, so counting it is right.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..keys import Keys, WorkflowKeys
from ..lua import execute, script
from ..task import Task
from . import histogram, indexes
from .counters import STATS_TTL, hour_of, step_prefix, workflow_prefix
from .engine import CREATE_GRACE, CREATING, awaits_steps, step_status, workflow_status

STEP_FIELDS = ("status", "attempts", "error", "finished")
RECORD_FIELDS = ("namespace", "name", "version", "queue", "steps", "created", CREATING)
ERROR_TYPE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,99}$")


def error_type(exc: BaseException) -> str:
    """The exception's class name as a stats field can hold it."""
    name = type(exc).__name__
    return name if ERROR_TYPE_RE.match(name) else "Exception"


def redis_ms(redis) -> int:
    sec, usec = redis.time()
    return int(sec) * 1000 + int(usec) // 1000


@dataclass(frozen=True)
class Observed:
    """An open workflow as its steps show it now."""

    id: str
    record: dict | None      # None: the record is gone
    created_score: float | None
    status: str | None
    finished_ms: int | None  # its last step's end (None while unfinished)
    retried: bool


def observe(redis, wk: WorkflowKeys, ids: list[str], now_ms: int | None = None) -> list[Observed]:
    """The current status of each workflow in ``ids``: two round trips
    (their records, then every step task's status fields). ``now_ms``
    (Redis time; the sweep's) lets a creation older than CREATE_GRACE count
    its missing steps as cancelled; without it they stay pending."""
    if not ids:
        return []
    pipe = redis.pipeline(transaction=False)
    for wid in ids:
        pipe.hmget(wk.workflow(wid), *RECORD_FIELDS)
        pipe.zscore(wk.index, wid)
    reply = pipe.execute()
    records = []
    for i, wid in enumerate(ids):
        values, score = reply[2 * i], reply[2 * i + 1]
        rec = dict(zip(RECORD_FIELDS, values)) if values[0] is not None else None
        records.append((wid, rec, score))
    prefix = wk.prefix
    pipe = redis.pipeline(transaction=False)
    plans = []
    for wid, rec, _ in records:
        if rec is None:
            plans.append([])
            continue
        steps = json.loads(rec["steps"])
        plans.append([(m["task"], m["skippable"]) for m in steps.values()])
        qk = Keys(prefix).queue(rec["queue"])
        for tid, _ in plans[-1]:
            pipe.hmget(qk.task(tid), *STEP_FIELDS)
    values = iter(pipe.execute() if any(plans) else [])
    out = []
    for (wid, rec, score), plan in zip(records, plans):
        if rec is None:
            out.append(Observed(wid, None, score, None, None, False))
            continue
        statuses, ends, retried = [], [], False
        enqueued = not awaits_steps(rec) or (
            now_ms is not None and now_ms - int(rec["created"]) >= CREATE_GRACE * 1000)
        for tid, skippable in plan:
            raw = next(values)
            task = Task.from_hash(tid, dict(zip(STEP_FIELDS, raw))) if raw[0] is not None else None
            statuses.append(step_status(task, skippable, enqueued))
            if task is not None:
                retried = retried or task.attempts > 1
                if task.raw.get("finished"):
                    ends.append(int(float(task.raw["finished"])))
        status = workflow_status(statuses)
        finished = None
        if status in indexes.FINISHED_STATES:
            finished = max(ends) if ends else int(rec["created"])
        out.append(Observed(wid, rec, score, status, finished, retried))
    return out


def record_finished(redis, wk: WorkflowKeys, finished: list[Observed]) -> int:
    """Count each finished workflow once (wf_finish-20.lua, one pipeline);
    returns how many this call recorded."""
    finished = [o for o in finished if o.record is not None and o.status in indexes.FINISHED_STATES]
    if not finished:
        return 0
    s = script("wf_finish")
    pipe = redis.pipeline(transaction=False)
    for o in finished:
        rec = o.record
        ns, nm, ver = rec["namespace"], rec["name"], rec["version"]
        created_ms = int(rec["created"])
        duration = max(0, o.finished_ms - created_ms)
        keys = [wk.workflow(o.id), wk.check, wk.ended, wk.stats(hour_of(o.finished_ms)),
                *indexes.state_keys(wk, "open", ns, nm, ver),
                *indexes.state_keys(wk, o.status, ns, nm, ver)]
        score = o.created_score if o.created_score is not None else created_ms * 1000
        pipe.evalsha(s.sha, s.numkeys, *keys, o.id, o.status, repr(float(score)), o.finished_ms,
                     duration, "1" if o.retried else "0", workflow_prefix(ns, nm, ver),
                     histogram.bucket(duration), STATS_TTL)
    return sum(int(x) for x in execute(pipe))


def step_fact(wk: WorkflowKeys, workflow_id: str, scope: tuple[str, str, str],
              step: str, attempt: int, ended_ms: int, duration_ms: int,
              error: str | None, timeout: float | None) -> tuple[str, list, list]:
    """The wf_step-2.lua call (script name, keys, args) that counts one
    attempt of a step, to run now (record_step) or with the attempt's
    completion (taskq.lease.Lease.after)."""
    ns, nm, ver = scope
    duration_ms = max(0, int(duration_ms))
    keys = [wk.workflow(workflow_id), wk.stats(hour_of(ended_ms))]
    args = [f"fact:{step}:{attempt}", step_prefix(ns, nm, ver, step), duration_ms,
            histogram.bucket(duration_ms), "0" if error else "1", error or "",
            "1" if attempt > 1 else "0", "" if timeout is None else repr(float(timeout)),
            STATS_TTL]
    return "wf_step", keys, args


def record_step(redis, wk: WorkflowKeys, workflow_id: str, scope: tuple[str, str, str],
                step: str, attempt: int, ended_ms: int, duration_ms: int,
                error: str | None, timeout: float | None) -> bool:
    """Count one attempt of a step (see the module docstring); True when
    this call counted it. ``error`` is the exception's class name (None: ok)."""
    name, keys, args = step_fact(wk, workflow_id, scope, step, attempt, ended_ms, duration_ms,
                                 error, timeout)
    return bool(script(name)(redis, keys, args))
