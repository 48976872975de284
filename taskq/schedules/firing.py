"""Firing: due schedules become runs, runs become engine tasks.

Two steps, each safe to run in any number of processes at once:

1. ``fire_due`` takes a batch of FIRE_BATCH schedules whose due time has
   come (by Redis time): fire-6.lua 'take' moves their scores in the due
   zset ahead by a lease, so racing schedulers take disjoint batches. It
   computes each one's next due time in Python (taskq.schedules.timing, once
   per distinct expression, timezone and time within a call) and calls
   fire-6.lua on the batch, which fires a schedule only if it still has the
   due time that was read (compare-and-set: a schedule changed since, or
   taken again after a lease ran out, fires once). The call moves the due
   times and appends the batch's runs to the outbox stream as one entry
   (one XADD a call, not one a run), in the schedules' slot, and hands the
   runs back; the same round trip takes the next batch.
2. The winner turns its runs into engine tasks in the runs' queues (another
   slot, so a separate call, like cross-queue dependencies in taskq.deps)
   and removes them from the outbox; ``deliver`` does the same for any entry
   (``fire_due`` sweeps entries older than ORPHAN_MS: a winner that died
   between the two steps). Task ids derive from the schedule id and run key,
   so delivering an entry twice is refused as TaskExists the second time:
   nothing runs twice. A handler payload's run is a workflow whose id derives
   from the run in the same way.

Misfire: a due time more than MISFIRE_GRACE_MS late (the scheduler was
down) is a misfire. ``run_once`` fires it once and continues from now (the
runs missed meanwhile are not made up); ``skip`` records it as skipped and
continues from now.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from functools import lru_cache
from typing import Any

from ..connection import as_taskq_client
from ..errors import TaskExists, TaskqValueError
from ..keys import DEFAULT_PREFIX, Keys, ScheduleKeys
from ..lua import execute, script
from ..options import TaskSpec, build_spec, json_text
from ..queue import Queue
from . import lag, model, steps, timing

FIRE_LIMIT = 1000
"""Schedules read per fire_due call, at most (the rest on the next call)."""
FIRE_BATCH = 250
"""Schedules taken per take, and fired per fire-6.lua call: a call this
size keeps Redis busy for a few milliseconds, and racing schedulers share a
burst in batches this size."""
TAKE_LEASE_MS = 10_000
"""A taken schedule's due zset score moves this far ahead until it fires:
a scheduler that died holding it leaves it to be taken again this late."""
DELIVER_BATCH = 500
ORPHAN_MS = 10_000
"""An outbox entry this old was left by a scheduler that died after firing
it: fire_due delivers it."""
MISFIRE_GRACE_MS = 30_000
RUNS_KEPT = 50
"""Runs remembered per schedule (newest first)."""
PLAN_FIELDS = ("id", "due", "schedule_kind", "schedule_expr", "timezone", "misfire_policy",
               "anchor")
"""What firing reads of a schedule (not its payload: the script copies that)."""
ENTRY_FIELDS = ("queue", "payload", "priority", "max_retries", "backoff_strategy",
                "concurrency_key", "rate_key")
"""A run's fields in an outbox entry after its schedule id and run key, in order."""
WORKFLOW_RUNS = uuid.UUID("5f0c2a47-2b8e-4e0e-9d43-6c1f1e0b7a10")
"""Namespace of the workflow ids of handler runs (uuid5 of schedule id and run key)."""
log = logging.getLogger("taskq.schedules")


def fire_keys(sk: ScheduleKeys) -> list[str]:
    return [sk.schedule_prefix, sk.due, sk.outbox, sk.runs_prefix, sk.dedupe_prefix,
            sk.listing_prefix]


def fire_batch(client, sk: ScheduleKeys, mode: str, items: list[tuple[str, str, str, bool]],
               event_text: str = "", pipe=None):
    """One fire-6.lua call for ``items`` = (schedule id, expected due ms,
    next due ms, skip) and its list of replies (on ``pipe``: queued, not run)."""
    s = script("fire")
    args: list[Any] = [mode, RUNS_KEPT, event_text]
    for sid, expected, nxt, skip in items:
        args += [sid, expected, nxt, "1" if skip else "0"]
    if pipe is not None:
        return pipe.evalsha(s.sha, s.numkeys, *fire_keys(sk), *args)
    return s(client, fire_keys(sk), args)


def fire(client, sk: ScheduleKeys, sid: str, mode: str, expected: str = "", nxt: str = "",
         skip: bool = False, event_text: str = ""):
    """Fire one schedule; returns its reply (see fire-6.lua)."""
    return fire_batch(client, sk, mode, [(sid, expected, nxt, skip)], event_text)[0]


def created_runs(replies: list, event_text: str = "") -> list[tuple[str, dict[str, str]]]:
    """[(outbox entry id, run fields)] of the runs a fire-6.lua call created
    (its last reply: the entry's id, time and runs)."""
    if not replies or not replies[-1]:
        return []
    entry_id, at, runs = replies[-1]
    return entry_runs(entry_id, {"at": str(at), "event": event_text, "runs": runs})


def plan(f: dict[str, Any], due_ms: int, now_ms: int, cache: dict | None = None) -> tuple[str, bool]:
    """(next due ms or '', skip?) for a schedule due at ``due_ms`` fired at
    ``now_ms``: pure, so misfire rules are tested without a clock. ``cache``
    (a dict kept for one firing pass) shares the next-run computation between
    schedules with the same expression, timezone and due time."""
    late = now_ms - due_ms > MISFIRE_GRACE_MS
    skip = late and f.get("misfire_policy") == "skip"
    if f["schedule_kind"] == "once":
        return "", skip
    after = now_ms if late else due_ms
    anchor = f.get("anchor") or after
    key = (f["schedule_kind"], f.get("schedule_expr"), f["timezone"], after,
           anchor if f["schedule_kind"] == "rrule" else None)
    if cache is not None and key in cache:
        return cache[key], skip
    try:
        nxt = timing.next_run(f["schedule_kind"], f.get("schedule_expr"), f["timezone"],
                              timing.from_ms(after), anchor=timing.from_ms(anchor))
    except Exception as e:  # noqa: BLE001 (stored before a rule change, or too costly now: one
        # schedule never stops the pass, and is never fired blind)
        log.error("schedule %s: cannot compute its next run (%s): finishing it", f.get("id"), e)
        nxt = None
    out = "" if nxt is None else str(timing.to_ms(nxt))
    if cache is not None:
        cache[key] = out
    return out, skip


def take(client, sk: ScheduleKeys, limit: int, pipe=None):
    """Take up to ``limit`` due schedules for this process (fire-6.lua 'take':
    their due zset scores move TAKE_LEASE_MS ahead, so a racing scheduler
    takes others). On ``pipe``: queued, not run; read the reply with ``taken``."""
    s = script("fire")
    args = ["take", limit, TAKE_LEASE_MS]
    if pipe is not None:
        return pipe.evalsha(s.sha, s.numkeys, *fire_keys(sk), *args)
    return s(client, fire_keys(sk), args)


def taken(reply: list) -> tuple[int, int | None, list[tuple[str, dict[str, Any]]]]:
    """(Redis now ms, earliest due ms left or None, [(id, plan fields)]) of a take reply."""
    rows = []
    for i in range(2, len(reply), 7):
        sid, due, kind, expr, tz, misfire, anchor = reply[i:i + 7]
        f = {"id": sid, "due": int(due), "schedule_kind": kind, "timezone": tz}
        if expr:
            f["schedule_expr"] = expr
        if misfire:
            f["misfire_policy"] = misfire
        if anchor:
            f["anchor"] = int(anchor)
        rows.append((sid, f))
    return int(reply[0]), (int(float(reply[1])) if reply[1] != "" else None), rows


def fire_due(client, prefix: str | None = None, limit: int = FIRE_LIMIT) -> dict[str, int]:
    """Take and fire schedules due by Redis time, FIRE_BATCH at a time, up
    to ``limit``, enqueueing each batch's runs before the next. Each round
    trip fires one batch and takes the next (and deletes the outbox entries
    of the batch before), so Redis works while this process plans and
    enqueues. Returns counts (due: schedules taken, fired, skipped,
    deduplicated, lost: refused by the fire script (moved or paused since
    taken), delivered) and ``next_due_ms`` (earliest due time left, -1 when
    none) beside ``now_ms`` (Redis time of the last take)."""
    client = as_taskq_client(client)
    sk = ScheduleKeys(prefix or DEFAULT_PREFIX)
    counts = {"due": 0, "fired": 0, "skipped": 0, "deduplicated": 0, "lost": 0, "delivered": 0}
    report = lag.PassReport()
    cache: dict = {}
    now, first, rows = taken(take(client, sk, min(FIRE_BATCH, limit)))
    done: list[str] = []  # outbox entries delivered, deleted by the next round trip
    while rows:
        counts["due"] += len(rows)
        items = []
        for sid, f in rows:
            started = time.perf_counter()
            nxt, skip = plan(f, f["due"], now, cache)
            report.planned(sid, f["due"], now, time.perf_counter() - started)
            items.append((sid, str(f["due"]), nxt, skip))
        more = len(rows) == FIRE_BATCH and counts["due"] < limit
        pipe = client.pipeline(transaction=False)
        fire_batch(client, sk, "due", items, pipe=pipe)
        # the next batch; after the last one, a take of none: the earliest due
        # time once this batch's have moved (not the lease they were taken with)
        take(client, sk, min(FIRE_BATCH, limit - counts["due"]) if more else 0, pipe=pipe)
        for i in range(0, len(done), DELIVER_BATCH):
            pipe.xdel(sk.outbox, *done[i:i + DELIVER_BATCH])
        replies = execute(pipe)
        for reply in replies[0][:len(items)]:
            if reply[0] != 1:
                counts["lost"] += 1
                continue
            outcome = reply[3]
            counts["fired" if outcome == "created" else outcome] += 1
        won = created_runs(replies[0])
        counts["delivered"] += len(enqueue_entries(client, sk.prefix, won))
        done = list(dict.fromkeys(entry_id for entry_id, _ in won))
        now, first, rows = taken(replies[1])
    if done:
        delete_entries(client, sk, done)
    counts["delivered"] += len(deliver(client, sk.prefix, older_than_ms=now - ORPHAN_MS))
    counts["next_due_ms"] = -1 if first is None else first
    counts["now_ms"] = now
    report.finish()
    return counts


@lru_cache(maxsize=1024)
def _payload(text: str) -> dict:
    """A run payload decoded once per distinct text (many schedules share
    one); callers only read it."""
    return json.loads(text)


def run_base_id(entry: dict[str, str]) -> str:
    """The task id of a callable run; a pipeline step's is this + '-<name>'."""
    return f"{entry['queue']}:sched-{entry['sid']}-{entry['run']}"


def run_meta(entry: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"schedule_id": entry["sid"], "schedule_run": entry["run"]}
    if entry.get("event"):
        meta["event"] = json.loads(entry["event"])
    return meta


def run_tasks(entry: dict[str, str]) -> list[dict[str, Any]]:
    """The enqueue_many dicts of one outbox entry (a run of tasks)."""
    sid, run_key = entry["sid"], entry["run"]
    payload = _payload(entry["payload"])
    base_id = run_base_id(entry)
    meta = run_meta(entry)
    common: dict[str, Any] = {
        "priority": model.engine_priority(int(entry.get("priority") or model.PRIORITY_DEFAULT)),
        "max_retries": int(entry.get("max_retries") or 0),
        "backoff": entry.get("backoff_strategy") or "exponential_jitter",
        "tags": [run_tag(sid, run_key)], "meta": meta,
    }
    if entry.get("concurrency_key"):
        common.update(concurrency_key=entry["concurrency_key"], concurrency_limit=1)
    if entry.get("rate_key"):  # its queue's limit for the key (taskq.rates)
        common["rate_key"] = entry["rate_key"]
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


_ENCODE = json.JSONEncoder(ensure_ascii=True).encode
"""A str as JSON text, the same text build_spec's meta and tags hold."""
TEMPLATE_FIELDS = ("queue", "payload", "priority", "max_retries", "backoff_strategy",
                   "concurrency_key", "rate_key", "event")
"""Runs equal in these differ only in their ids, meta and tag (see run_specs)."""


def run_specs(entry: dict[str, str], templates: dict) -> list[TaskSpec]:
    """The validated task specs of one run. Runs of many schedules often
    share a payload: the first such run is validated in full (build_spec) and
    the others copy its specs with their own ids, meta and tag, which is
    most of the cost of delivering thousands of runs at once. A copy needs
    ids of the template's length (so the same length limits hold)."""
    key = tuple(map(entry.get, TEMPLATE_FIELDS))
    base = run_base_id(entry)
    template = templates.get(key)
    if template is None or len(template[0]) != len(base):
        specs = [build_spec(entry["queue"], **t) for t in run_tasks(entry)]
        templates.setdefault(key, (base, specs))
        return specs
    old_base, specs = template
    meta = json_text("meta", run_meta(entry)) if entry.get("event") else (
        f'{{"schedule_id":{_ENCODE(entry["sid"])},"schedule_run":{_ENCODE(entry["run"])}}}')
    tag = run_tag(entry["sid"], entry["run"])
    tags = f"[{_ENCODE(tag)}]"
    out = []
    for spec in specs:
        deps = [base + d[len(old_base):] for d in spec.deps]
        fields = dict(spec.fields, meta=meta, tags=tags)
        if deps:
            fields["deps"] = json_text("deps", deps)
        out.append(TaskSpec(base + spec.id[len(old_base):], fields, deps, [tag], spec.delay_ms,
                            spec.at_ms, spec.own_id))
    return out


def run_tag(sid: str, run_key: str) -> str:
    return f"sched:{sid}:{run_key}"


def workflow_run_id(sid: str, run_key: str) -> str:
    """The workflow id of a handler payload's run: derived, so delivering
    the run twice starts one workflow."""
    return str(uuid.uuid5(WORKFLOW_RUNS, f"{sid}/{run_key}"))


def start_workflow(client, prefix: str, entry: dict[str, str], found: dict) -> list[str]:
    """Start the workflow of a handler run (``found`` caches the handlers
    resolved during one delivery); returns its step task ids."""
    from .. import workflows  # imported here: the workflow engine is optional for schedules
    payload = _payload(entry["payload"])
    name = payload["handler"]
    if name not in found:
        found[name] = workflows.find_handler(client, name, prefix=prefix)
    wf = workflows.create(
        client, found[name], context=payload.get("context", {}), prefix=prefix,
        queue=entry["queue"], workflow_id=workflow_run_id(entry["sid"], entry["run"]),
        priority=model.engine_priority(int(entry.get("priority") or model.PRIORITY_DEFAULT)),
        concurrency_key=entry.get("concurrency_key") or None)
    return [s["task_id"] for s in wf["steps"]]


def deliver(client, prefix: str | None = None, batch: int = DELIVER_BATCH,
            older_than_ms: int | None = None) -> dict[tuple[str, str], list[str]]:
    """Enqueue the runs waiting in the outbox (only those added at or
    before ``older_than_ms``, Redis ms, when given); returns {(schedule id,
    run key): task ids} of the entries handled. A run already enqueued
    (TaskExists) is not enqueued again."""
    client = as_taskq_client(client)
    prefix = prefix or DEFAULT_PREFIX
    sk = ScheduleKeys(prefix)
    end = "+" if older_than_ms is None else str(max(0, older_than_ms))
    done: dict[tuple[str, str], list[str]] = {}
    while True:
        # an entry holds up to FIRE_BATCH runs: about ``batch`` runs a round
        entries = client.xrange(sk.outbox, "-", end, count=max(1, batch // FIRE_BATCH))
        if not entries:
            return done
        done.update(deliver_entries(client, prefix, [
            run for entry_id, fields in entries for run in entry_runs(entry_id, {
                (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                for k, v in fields.items()})]))


def entry_runs(entry_id: str, fields: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """[(entry id, run fields)] of one outbox entry: a fire-6.lua call's runs
    (field ``runs``, a JSON array of arrays) or a single run's fields (an entry
    written before runs were batched)."""
    if "runs" not in fields:
        return [(entry_id, fields)]
    common = {"at": fields.get("at", ""), "event": fields.get("event", "")}
    return [(entry_id, dict(zip(("sid", "run") + ENTRY_FIELDS, run), **common))
            for run in json.loads(fields["runs"])]


def deliver_entries(client, prefix: str, entries: list[tuple[str, dict[str, str]]]
                    ) -> dict[tuple[str, str], list[str]]:
    """Enqueue these outbox entries' runs, then remove the entries."""
    done = enqueue_entries(client, prefix, entries)
    delete_entries(client, ScheduleKeys(prefix), [entry_id for entry_id, _ in entries])
    return done


def enqueue_entries(client, prefix: str, entries: list[tuple[str, dict[str, str]]]
                    ) -> dict[tuple[str, str], list[str]]:
    """Enqueue these outbox entries' runs (one enqueue_specs per queue); the
    entries stay in the outbox until deleted (delete_entries)."""
    if not entries:
        return {}
    by_queue: dict[str, list[tuple[dict, list[TaskSpec]]]] = {}
    done: dict[tuple[str, str], list[str]] = {}
    found: dict = {}
    templates: dict = {}
    for _, fields in entries:
        run = (fields.get("sid"), fields.get("run"))
        try:
            if "handler" in _payload(fields["payload"]):
                done[run] = start_workflow(client, prefix, fields, found)
                continue
            specs = run_specs(fields, templates)
        except (ValueError, KeyError, TypeError, TaskqValueError) as e:
            log.error("schedule run %s/%s dropped: %s", run[0], run[1], e)
            continue
        by_queue.setdefault(fields["queue"], []).append((fields, specs))
    for queue, runs in by_queue.items():
        q = Queue(queue, redis=client, prefix=prefix)
        try:
            q.enqueue_specs([s for _, specs in runs for s in specs])
        except TaskExists:  # some were delivered before: one by one, skipping those
            for _, specs in runs:
                try:
                    q.enqueue_specs(specs)
                except TaskExists:
                    pass
        for fields, specs in runs:
            done[(fields["sid"], fields["run"])] = [s.id for s in specs]
    return done


def delete_entries(client, sk: ScheduleKeys, ids: list[str]) -> None:
    """Remove these outbox entries (an id given once per run is deleted once)."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return
    pipe = client.pipeline(transaction=False)
    for i in range(0, len(ids), DELIVER_BATCH):
        pipe.xdel(sk.outbox, *ids[i:i + DELIVER_BATCH])
    pipe.execute()


def publish(client, name: str, payload: Any = None, prefix: str | None = None) -> list[str]:
    """Fire every active event schedule waiting for event ``name``; returns
    the run keys created. ``payload`` (JSON-able, or JSON text) reaches
    each run's tasks as meta['event']."""
    return [run for _, run in publish_runs(client, name, payload, prefix)]


def publish_runs(client, name: str, payload: Any = None, prefix: str | None = None
                 ) -> list[tuple[str, str]]:
    """``publish`` answering (schedule id, run key) of each run created: a
    run key alone ("n3") does not say whose run it is."""
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
    batches = [sids[i:i + FIRE_BATCH] for i in range(0, len(sids), FIRE_BATCH)]
    for batch in batches:
        fire_batch(client, sk, "event", [(sid, "", "", False) for sid in batch], text, pipe=pipe)
    won = [run for replies in execute(pipe) for run in created_runs(replies, text)]
    deliver_entries(client, sk.prefix, won)
    return [(fields["sid"], fields["run"]) for _, fields in won]


STEP_ROUNDS = 50
"""fire_due calls per scheduler step at most (FIRE_LIMIT schedules each):
a burst of due schedules is fired in one step, not one thousand a tick."""


def upkeep(client, keys: Keys) -> float | None:
    """The scheduler's step (taskq.maintenance.UPKEEP): fire until nothing
    is due; returns the seconds until the earliest schedule comes due (0
    when more are due than STEP_ROUNDS passes took), None when none is timed."""
    for _ in range(STEP_ROUNDS):
        counts = fire_due(client, keys.prefix)
        if counts["due"] < FIRE_LIMIT:
            break
    if counts["next_due_ms"] < 0:
        return None
    return max(0.0, (counts["next_due_ms"] - counts["now_ms"]) / 1000)
