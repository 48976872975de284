"""The workflow sweep, a pass of ``taskq scheduler`` (maintenance.UPKEEP).

Workflows are filed under their status by follow-ups right after their
steps change (taskq.workflows.status); the sweep is what files the rest: a
follow-up lost with a killed process, a step changed by hand through the
plain task API, a step reaped after its worker died. Each tick it looks at
up to SWEEP_BATCH unfinished workflows whose check time has come (the
``check`` zset), files each under the status its steps show now, and sets
the next check of those still unfinished: soon for a young workflow, at
most every MAX_RECHECK seconds for an old one. A workflow still being
created (its steps not yet enqueued) stays pending; one whose steps have
not come states.CREATE_GRACE seconds after its record is filed cancelled
(its creator died). Then it deletes up to PRUNE_BATCH workflows that
finished more than TASKQ_WORKFLOW_RETENTION seconds ago (record and every
index entry, one wf_prune-18.lua call each) and their step tasks with
them (forget-30.lua): the engine's default retention does not apply to the
workflow queue, so a long workflow's finished steps stay while it runs.
"""

from __future__ import annotations

import json
import os

from .. import retention
from ..connection import as_taskq_client
from ..errors import TaskqValueError
from ..keys import WORKFLOW_QUEUE, Keys, WorkflowKeys
from ..lua import call, execute, script
from . import indexes
from .outcomes import redis_ms
from .status import file, observe

SWEEP_BATCH = 200
"""Open workflows looked at per tick, at most."""
PRUNE_BATCH = 100
"""Finished workflows deleted per tick, at most."""
MIN_RECHECK = 1.0
MAX_RECHECK = 60.0
"""Seconds between two looks at one open workflow: a tenth of its age, within these."""
RETENTION_ENV = "TASKQ_WORKFLOW_RETENTION"
DEFAULT_RETENTION = 7 * 24 * 3600


def retention_seconds(env=None) -> float:
    """TASKQ_WORKFLOW_RETENTION: seconds a finished workflow is kept."""
    text = (os.environ if env is None else env).get(RETENTION_ENV, "").strip()
    if not text:
        return float(DEFAULT_RETENTION)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 10 ** 10:
        raise TaskqValueError(f"{RETENTION_ENV}={text!r}: give a number of seconds above 0")
    return value


def recheck_ms(now_ms: int, created_ms: int) -> int:
    age = max(0.0, (now_ms - created_ms) / 1000)
    return now_ms + int(1000 * min(MAX_RECHECK, max(MIN_RECHECK, age / 10)))


def sweep(redis, prefix: str, now_ms: int | None = None,
          retention: float | None = None) -> dict[str, int]:
    """One pass; returns {'looked', 'recorded', 'pruned'}."""
    redis = as_taskq_client(redis)
    wk = WorkflowKeys(prefix)
    now = redis_ms(redis) if now_ms is None else now_ms
    due = redis.zrangebyscore(wk.check, "-inf", now, start=0, num=SWEEP_BATCH)
    keys = Keys(prefix)
    seen = observe(redis, keys, dict.fromkeys(due), now)
    recorded = file(redis, keys, seen, now)
    pipe = redis.pipeline(transaction=False)
    for o in seen:
        if o.record is None:  # deleted under us: nothing left to record
            pipe.zrem(wk.check, o.id)
        elif o.status not in indexes.FINISHED_STATES:
            pipe.zadd(wk.check, {o.id: recheck_ms(now, int(o.record["created"]))}, xx=True)
    pipe.execute()
    kept = retention_seconds() if retention is None else retention
    pruned = prune(redis, wk, now - int(kept * 1000))
    return {"looked": len(seen), "recorded": recorded, "pruned": pruned}


def prune(redis, wk: WorkflowKeys, before_ms: int) -> int:
    """Delete up to PRUNE_BATCH workflows that finished before ``before_ms``."""
    old = redis.zrangebyscore(wk.ended, "-inf", f"({before_ms}", start=0, num=PRUNE_BATCH,
                              withscores=True)
    if not old:
        return 0
    pipe = redis.pipeline(transaction=False)
    for wid, _ in old:
        pipe.hmget(wk.workflow(wid), "namespace", "name", "version", "state", "outcome", "steps")
    s = script("wf_prune")
    calls = redis.pipeline(transaction=False)
    orphans, steps, filed = [], [], []
    for (wid, finished), (ns, nm, ver, state, outcome, meta) in zip(old, pipe.execute()):
        outcome = state or outcome  # the status it is filed under (records of older releases: outcome)
        if ns is None or outcome not in indexes.FINISHED_STATES:
            orphans.append(wid)  # no record to say where it is indexed
            continue
        keys = [wk.workflow(wid), wk.ended, *indexes.state_keys(wk, "all", ns, nm, ver),
                *indexes.state_keys(wk, outcome, ns, nm, ver)]
        calls.evalsha(s.sha, s.numkeys, *keys, wid, int(finished))
        steps.append(_step_task_ids(meta))
        filed.append((wid, int(finished), outcome))
    replies = execute(calls) if calls.command_stack else []
    deleted = sum(int(x) for x in replies)
    remember(redis, wk, [w for w, done in zip(filed, replies) if int(done)])
    gone = [tid for ids, done in zip(steps, replies) if int(done) for tid in ids]
    if gone:
        qkeys = Keys(wk.prefix).queue(WORKFLOW_QUEUE)
        for i in range(0, len(gone), 500):
            call(redis, "forget", qkeys, *gone[i:i + 500])
    if orphans:
        redis.zrem(wk.ended, *orphans)
        redis.zrem(wk.index, *orphans)
    return deleted


OUTCOMES = ("complete", "error", "cancelled")
"""A workflow tombstone's outcome codes 0, 1, 2."""


def remember(redis, wk: WorkflowKeys, pruned: list[tuple[str, int, str]]) -> None:
    """Tombstones of the (id, finished ms, outcome) workflows just pruned,
    and the trim of older ones (as the engine's: taskq.retention)."""
    if not pruned:
        return
    pipe = redis.pipeline(transaction=False)
    pipe.zadd(wk.gone, {wid: retention.tombstone_score(finished, OUTCOMES.index(outcome))
                        for wid, finished, outcome in pruned})
    cutoff = (redis_ms(redis) - retention.TOMBSTONE_SECONDS * 1000) * 4
    pipe.zremrangebyscore(wk.gone, "-inf", f"({cutoff}")
    pipe.zremrangebyrank(wk.gone, 0, -retention.TOMBSTONE_COUNT - 1)
    pipe.execute()


def removed(redis, wk: WorkflowKeys, workflow_id: str) -> dict | None:
    """How a workflow the sweep pruned ended, from its tombstone:
    {"status": complete | error | cancelled, "finished": ms}, else None."""
    return retention.read_tombstone(redis.zscore(wk.gone, workflow_id), OUTCOMES)


def _step_task_ids(meta: str | None) -> list[str]:
    try:
        return [m["task"] for m in json.loads(meta or "{}").values() if m.get("task")]
    except (ValueError, AttributeError, TypeError):
        return []  # a damaged record: its steps go by the age of the workflow queue's settings


def upkeep(client, keys: Keys) -> None:
    """The maintenance step (taskq.maintenance.UPKEEP)."""
    sweep(client, keys.prefix)
