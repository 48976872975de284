"""Firing: due schedules become runs, runs become engine tasks.

Two steps, each safe to run in any number of processes at once:

1. ``fire_due`` reads the schedules whose due time has come (by Redis
   time), computes each one's next due time in Python (taskq.schedules.timing)
   and calls fire-5.lua, which fires only if the schedule still has the due
   time that was read (compare-and-set): of several schedulers racing on one
   due time exactly one wins. The winning call moves the due time and
   appends the run to the outbox stream, in the schedules' slot.
2. ``deliver`` turns outbox entries into engine tasks in the run's queue
   (another slot, so a separate call, like cross-queue dependencies in
   taskq.deps). Task ids derive from the schedule id and run key, so
   delivering an entry twice (a crash between enqueue and XDEL, two
   schedulers) is refused as TaskExists the second time: nothing runs twice.

Misfire: a due time more than MISFIRE_GRACE_MS late (the scheduler was
down) is a misfire. ``run_once`` fires it once and continues from now (the
runs missed meanwhile are not made up); ``skip`` records it as skipped and
continues from now.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ..connection import as_taskq_client
from ..errors import TaskExists
from ..keys import DEFAULT_PREFIX, Keys, ScheduleKeys
from ..lua import execute, script
from ..queue import Queue
from . import model, steps, timing

FIRE_LIMIT = 1000
"""Schedules fired per step call, at most (the rest on the next tick)."""
DELIVER_BATCH = 500
MISFIRE_GRACE_MS = 30_000
RUNS_KEPT = 50
"""Runs remembered per schedule (newest first)."""
PLAN_FIELDS = ("id", "due", "schedule_kind", "schedule_expr", "timezone", "misfire_policy",
               "anchor", "dedupe_key", "dedupe_window_seconds")
"""What firing reads of a schedule (not its payload: the script copies that)."""
log = logging.getLogger("taskq.schedules")


def fire(client, sk: ScheduleKeys, sid: str, mode: str, f: dict[str, Any], expected: str = "",
         nxt: str = "", skip: bool = False, event_text: str = "", pipe=None):
    """One fire-5.lua call (on ``pipe`` when given: queued, not run)."""
    window = f.get("dedupe_window_seconds")
    dedupe = f.get("dedupe_key")
    s = script("fire")
    keys = [sk.schedule(sid), sk.due, sk.outbox, sk.runs(sid), sk.dedupe(dedupe or "")]
    args = [sid, mode, expected, nxt, "1" if skip else "0",
            str(int(window) * 1000) if window and dedupe else "", event_text, RUNS_KEPT]
    if pipe is not None:
        return pipe.evalsha(s.sha, s.numkeys, *keys, *args)
    return s(client, keys, args)


def plan(f: dict[str, Any], due_ms: int, now_ms: int) -> tuple[str, bool]:
    """(next due ms or '', skip?) for a schedule due at ``due_ms`` fired at
    ``now_ms``: pure, so misfire rules are tested without a clock."""
    late = now_ms - due_ms > MISFIRE_GRACE_MS
    skip = late and f.get("misfire_policy") == "skip"
    if f["schedule_kind"] == "once":
        return "", skip
    after = now_ms if late else due_ms
    try:
        nxt = timing.next_run(f["schedule_kind"], f.get("schedule_expr"), f["timezone"],
                              timing.from_ms(after), anchor=timing.from_ms(f.get("anchor") or after))
    except (ValueError, KeyError) as e:  # stored before a rule change; never fire it blind
        log.error("schedule %s: cannot compute its next run (%s): finishing it", f.get("id"), e)
        nxt = None
    return ("" if nxt is None else str(timing.to_ms(nxt))), skip


def fire_due(client, prefix: str | None = None, limit: int = FIRE_LIMIT) -> dict[str, int]:
    """Fire every schedule due by Redis time, then deliver the runs.
    Returns counts (due: schedules read, fired, skipped, deduplicated,
    lost: another process fired it first, delivered)."""
    from .store import decode  # store imports this module
    client = as_taskq_client(client)
    sk = ScheduleKeys(prefix or DEFAULT_PREFIX)
    sec, usec = client.time()
    now = int(sec) * 1000 + int(usec) // 1000
    due = client.zrangebyscore(sk.due, "-inf", now, start=0, num=limit, withscores=True)
    counts = {"due": len(due), "fired": 0, "skipped": 0, "deduplicated": 0, "lost": 0,
              "delivered": 0}
    if due:
        pipe = client.pipeline(transaction=False)
        for sid, _ in due:
            pipe.hmget(sk.schedule(sid), PLAN_FIELDS)
        raws = pipe.execute()
        pipe = client.pipeline(transaction=False)
        for (sid, score), values in zip(due, raws):
            if values[0] is None:
                pipe.zrem(sk.due, sid)  # a stray index entry: its schedule is gone
                continue
            f = decode({k: v for k, v in zip(PLAN_FIELDS, values) if v is not None})
            if f.get("due") is None:  # not due any more (paused meanwhile): the script refuses it
                f["due"] = int(score)
            nxt, skip = plan(f, f["due"], now)
            fire(client, sk, sid, "due", f, str(f["due"]), nxt, skip, pipe=pipe)
        for reply in execute(pipe):
            if not isinstance(reply, list):
                continue
            if reply[0] == 1:
                outcome = reply[3]
                counts["fired" if outcome == "created" else outcome] += 1
            else:
                counts["lost"] += 1
    counts["delivered"] = len(deliver(client, sk.prefix))
    return counts


def run_tasks(entry: dict[str, str]) -> list[dict[str, Any]]:
    """The enqueue_many dicts of one outbox entry (a run)."""
    sid, run_key, queue = entry["sid"], entry["run"], entry["queue"]
    payload = json.loads(entry["payload"])
    base_id = f"{queue}:sched-{sid}-{run_key}"
    meta: dict[str, Any] = {"schedule_id": sid, "schedule_run": run_key}
    if entry.get("event"):
        meta["event"] = json.loads(entry["event"])
    common: dict[str, Any] = {
        "priority": model.engine_priority(int(entry.get("priority") or model.PRIORITY_DEFAULT)),
        "max_retries": int(entry.get("max_retries") or 0),
        "backoff": entry.get("backoff_strategy") or "exponential_jitter",
        "tags": [run_tag(sid, run_key)], "meta": meta,
    }
    if entry.get("concurrency_key"):
        common.update(concurrency_key=entry["concurrency_key"], concurrency_limit=1)
    if "callable" in payload:
        return [dict(func=payload["callable"], args=payload.get("args", []),
                     kwargs=payload.get("kwargs", {}), task_id=base_id, **common)]
    ids = {}
    tasks = []
    for item in payload["pipeline"]:
        name = item.get("name", item["step"])
        ids[name] = f"{base_id}-{name}"
        tasks.append(dict(func=steps.RUN_STEP, kwargs={"step": item["step"], "args": item.get("args", {})},
                          task_id=ids[name], depends_on=[ids[d] for d in item.get("depends_on", [])],
                          **common))
    return tasks


def run_tag(sid: str, run_key: str) -> str:
    return f"sched:{sid}:{run_key}"


def deliver(client, prefix: str | None = None, batch: int = DELIVER_BATCH) -> dict[tuple[str, str], list[str]]:
    """Enqueue the runs waiting in the outbox; returns {(schedule id, run key):
    task ids} of the entries handled. A run already enqueued (TaskExists) is
    not enqueued again."""
    client = as_taskq_client(client)
    prefix = prefix or DEFAULT_PREFIX
    sk = ScheduleKeys(prefix)
    done: dict[tuple[str, str], list[str]] = {}
    while True:
        entries = client.xrange(sk.outbox, "-", "+", count=batch)
        if not entries:
            return done
        by_queue: dict[str, list[tuple[str, dict, list[dict]]]] = {}
        handled = []
        for entry_id, fields in entries:
            fields = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                      for k, v in fields.items()}
            handled.append(entry_id)
            try:
                tasks = run_tasks(fields)
            except (ValueError, KeyError, TypeError) as e:
                log.error("schedule run %s/%s dropped: %s", fields.get("sid"), fields.get("run"), e)
                continue
            by_queue.setdefault(fields["queue"], []).append((entry_id, fields, tasks))
        for queue, runs in by_queue.items():
            q = Queue(queue, redis=client, prefix=prefix)
            try:
                q.enqueue_many([t for _, _, tasks in runs for t in tasks])
            except TaskExists:  # some were delivered before: one by one, skipping those
                for _, _, tasks in runs:
                    try:
                        q.enqueue_many(tasks)
                    except TaskExists:
                        pass
            for _, fields, tasks in runs:
                done[(fields["sid"], fields["run"])] = [t["task_id"] for t in tasks]
        client.xdel(sk.outbox, *handled)


def run_status(q: Queue, sid: str, run_key: str) -> dict[str, Any]:
    """A run's state from its engine tasks: failed if any failed, cancelled
    if any was, completed when all are, running when one is, else pending;
    with start, end and the first error."""
    tasks = q.list(tag=run_tag(sid, run_key), limit=model.MAX_PIPELINE_STEPS)
    if not tasks:
        return {"status": "unknown", "task_ids": []}
    states = [t.status for t in tasks]
    if "failed" in states:
        status = "failed"
    elif "cancelled" in states:
        status = "cancelled"
    elif all(s == "completed" for s in states):
        status = "completed"
    elif "running" in states or "completed" in states:
        status = "running"
    else:
        status = "pending"
    started = [t.started_at for t in tasks if getattr(t, "started_at", None)]
    ended = [t.finished_at for t in tasks if getattr(t, "finished_at", None)]
    errors = [t.error for t in tasks if getattr(t, "error", None)]
    return {"status": status, "task_ids": sorted(t.id for t in tasks),
            "started_at": min(started).isoformat() if started else None,
            "ended_at": max(ended).isoformat() if status in ("completed", "failed", "cancelled") and ended else None,
            "error": errors[0] if errors else None}


def publish(client, name: str, payload: Any = None, prefix: str | None = None) -> list[str]:
    """Fire every active event schedule waiting for event ``name``; returns
    the run keys created. ``payload`` (JSON-able, or JSON text) reaches
    each run's tasks as meta['event']."""
    return [run for _, run in publish_runs(client, name, payload, prefix)]


def publish_runs(client, name: str, payload: Any = None, prefix: str | None = None
                 ) -> list[tuple[str, str]]:
    """``publish`` answering (schedule id, run key) of each run created: a
    run key alone ("n3") does not say whose run it is."""
    from .store import decode
    if not isinstance(name, str) or not model.EVENT_RE.match(name):
        raise model.InvalidField("name", "an event name: [A-Za-z0-9_.:-]{1,128}")
    client = as_taskq_client(client)
    sk = ScheduleKeys(prefix or DEFAULT_PREFIX)
    if payload is None:
        text = ""
    elif isinstance(payload, str):
        json.loads(payload)
        text = payload
    else:
        text = json.dumps(payload, separators=(",", ":"))
    sids = sorted(client.smembers(sk.event(name)))
    if not sids:
        return []
    pipe = client.pipeline(transaction=False)
    for sid in sids:
        pipe.hgetall(sk.schedule(sid))
    pipe2 = client.pipeline(transaction=False)
    fired = []
    for sid, raw in zip(sids, pipe.execute()):
        if raw:
            fire(client, sk, sid, "event", decode(raw), event_text=text, pipe=pipe2)
            fired.append(sid)
    created = [(sid, r[1]) for sid, r in zip(fired, execute(pipe2))
               if isinstance(r, list) and r[0] == 1 and r[3] == "created"]
    deliver(client, sk.prefix)
    return created


STEP_ROUNDS = 50
"""fire_due calls per scheduler tick at most (FIRE_LIMIT schedules each):
a burst of due schedules is fired in one tick, not one thousand a tick."""


def step(client, keys: Keys) -> None:
    """The scheduler's per-tick step (taskq.maintenance.STEPS)."""
    for _ in range(STEP_ROUNDS):
        if fire_due(client, keys.prefix)["due"] < FIRE_LIMIT:
            return
