"""Every workflow filed under its status, so a listing by status is a range read.

A workflow's status is never stored as truth: it derives from its step
tasks (states.step_status / workflow_status). The steps live in an engine
queue (its own slot on a cluster), the status indexes under ``{wf}``, so no
transition script can file a workflow under its new status. After a step
changes, an idempotent follow-up does (DESIGN invariant 5), in two round
trips:

1. observe: wf_observe-2.lua reads every step task of the workflows at one
   instant, in the steps' queue, beside their records' fields (``{wf}``,
   wf_records-1.lua);
2. file: wf_state-5.lua moves the workflow's index entries to the status
   derived, unless an observation made later was filed already (the
   observation's Redis TIME is its version, so racing follow-ups converge
   on the newest), and records its outcome the first time it finishes
   (counted once: taskq.workflows.analytics reads it). It is told the
   status the workflow is filed under (read with the observation), and
   moves it from there; if another follow-up moved it meanwhile, it
   refuses and the workflow is observed again. One call files a batch.

A pool worker does not observe a workflow when it claims one of its steps
that needs none: holding a running step, it knows the workflow has
started, and files it so (a start, from its steps' queue's time after the
claim; see wf_state-5.lua for why a start and observations cannot undo
each other's news).

Who follows up: the pool worker for the steps it claims and completes
(taskq.workflows.follower, on a thread of its own, riding the round trips it
makes for the steps anyway); every other claim, completion, failure and
release through taskq.lease (rq workers, agents, the plain Python API); a
cancel, retry or delete through taskq.Queue (workflows.cancel_step, the
task APIs); and the sweep (taskq.workflows.sweep), which looks again at
every unfinished workflow from time to time, so a follow-up lost with a
killed process, or a step reaped after its worker died, is filed at the
next look.

Only a step's changes that can change its workflow's status are followed:
a claim of a step that needs none (the first claim of a workflow starts it),
the completion of a step nothing depends on (the last one to complete is
one of them), and every failure, cancel and release.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, NamedTuple

from ..keys import Keys, WorkflowKeys, queue_of
from ..lua import execute, script
from . import histogram, indexes, step_reads
from .counters import STATS_TTL
from .states import CREATE_GRACE, CREATING, RUNNER, awaits_steps, step_status, workflow_status

log = logging.getLogger("taskq.workflows")

RECORD_FIELDS = ("namespace", "name", "version", "queue", "steps", "created", CREATING, "outcome",
                 "state")
"""Record fields an observation needs."""
REFILE_TRIES = 3
"""Observations of a workflow that another follow-up keeps moving, at most."""
WORKFLOW_TAG = "workflow:"
"""Every step task of a workflow carries the tag workflow:<id> (engine.create)."""


class _Step(NamedTuple):
    """What step_status reads of an engine task."""

    status: str
    attempts: int
    error: str


@dataclass(frozen=True)
class Observation:
    """A workflow as its steps showed it at one instant."""

    id: str
    record: dict | None      # None: the record is gone
    status: str | None
    version: int             # microseconds of Redis TIME when the steps were read
    finished_ms: int | None  # its last step's end (None while unfinished)
    retried: bool


def step_workflow(task) -> tuple[str, str] | None:
    """(workflow id, queue) of a workflow step's engine task, else None."""
    if task.func != RUNNER:
        return None
    kwargs = task.kwargs
    wid = kwargs.get("workflow") if isinstance(kwargs, dict) else None
    return (wid, queue_of(task.id)) if isinstance(wid, str) else None


def may_start(task) -> bool:
    """A claim that can start its workflow: the first attempt of a step
    that needs no other (a workflow's first claim is one of those)."""
    deps = task.kwargs.get("deps")
    return task.attempts <= 1 and not deps


def may_finish(task) -> bool:
    """A completion that can finish its workflow: nothing depends on the
    step (the step that completes last never has a dependent waiting)."""
    return not task.raw.get("dependents")


def changed(tasks: Iterable, event: str) -> dict[str, str]:
    """{workflow id: queue} of the workflows whose status ``event`` on these
    step tasks may have changed: 'claimed', 'completed' or 'ended' (failed,
    cancelled, released, retried: always)."""
    out: dict[str, str] = {}
    for task in tasks:
        where = step_workflow(task)
        if where is None:
            continue
        if event == "claimed" and not may_start(task):
            continue
        if event == "completed" and not may_finish(task):
            continue
        out[where[0]] = where[1]
    return out


def queue_observe(pipe, keys: Keys, queue: str, wids: list[str]) -> None:
    """Queue the observation of these workflows' steps, all in ``queue``
    (one wf_observe-2.lua call, one reply: see split_observed)."""
    qk = keys.queue(queue)
    s = script("wf_observe")
    pipe.evalsha(s.sha, s.numkeys, qk.tag(WORKFLOW_TAG), qk.task_prefix, *wids)


def split_observed(reply: list, wids: list[str]) -> dict[str, tuple[int, list]]:
    """One wf_observe-2.lua reply as {workflow id: (version, its step entries)}."""
    version = int(reply[0]) * 1_000_000 + int(reply[1])
    out, at = {}, 2
    for wid in wids:
        n = int(reply[at])
        out[wid] = (version, reply[at + 1:at + 1 + 5 * n])
        at += 1 + 5 * n
    return out


def queue_records(pipe, wk: WorkflowKeys, wids: list[str]) -> None:
    """Queue a read of these workflows' RECORD_FIELDS (one wf_records-1.lua
    call, one reply: RECORD_FIELDS values of each in turn)."""
    items: list = []
    for wid in wids:
        items += [wid, 1, ""]
    step_reads.queue_records(pipe, wk, [RECORD_FIELDS], items)


def observe(client, keys: Keys, workflows: dict[str, str | None],
            now_ms: int | None = None) -> list[Observation]:
    """The status of each workflow ({id: its steps' queue, or None when not
    known}): one round trip, two when a queue must be read first. ``now_ms``
    (Redis time; the sweep's) lets a creation older than CREATE_GRACE count
    its missing steps as cancelled; without it they stay pending."""
    if not workflows:
        return []
    wk = WorkflowKeys(keys.prefix)
    unknown = [wid for wid, queue in workflows.items() if queue is None]
    if unknown:
        pipe = client.pipeline(transaction=False)
        for wid in unknown:
            pipe.hget(wk.workflow(wid), "queue")
        workflows = {**workflows, **dict(zip(unknown, map(_text, pipe.execute())))}
    gone = [wid for wid, queue in workflows.items() if queue is None]
    by_queue: dict[str, list[str]] = {}
    for wid, queue in workflows.items():
        if queue is not None:
            by_queue.setdefault(queue, []).append(wid)
    out = [Observation(wid, None, None, 0, None, False) for wid in gone]
    if not by_queue:
        return out
    present = [wid for wids in by_queue.values() for wid in wids]
    pipe = client.pipeline(transaction=False)
    queue_records(pipe, wk, present)
    for queue, wids in by_queue.items():
        queue_observe(pipe, keys, queue, wids)
    replies = execute(pipe)
    steps: dict[str, tuple[int, list]] = {}
    for (queue, wids), reply in zip(by_queue.items(), replies[1:]):
        steps.update(split_observed(reply, wids))
    n = len(RECORD_FIELDS)
    for i, wid in enumerate(present):
        out.append(derive(wid, *steps[wid], replies[0][i * n:(i + 1) * n], now_ms))
    return out


def derive(wid: str, version: int, entries: list, record_values: list,
           now_ms: int | None = None) -> Observation:
    """The Observation of one workflow from its step entries (split_observed)
    and its RECORD_FIELDS values."""
    if record_values[0] is None:
        return Observation(wid, None, None, 0, None, False)
    rec = dict(zip(RECORD_FIELDS, map(_text, record_values)))
    found = {}
    for i in range(0, len(entries), 5):
        tid, status, attempts, dep, finished = map(_text, entries[i:i + 5])
        found[tid] = (status, int(attempts or 0), dep == "1", finished)
    enqueued = not awaits_steps(rec) or (
        now_ms is not None and now_ms - int(rec["created"]) >= CREATE_GRACE * 1000)
    statuses, ends, retried = [], [], False
    for tid, skippable in _step_meta(rec["steps"]):
        got = found.get(tid)
        task = None
        if got is not None:
            status, attempts, dep, finished = got
            task = _Step(status, attempts, "dependency " if dep else "")
            retried = retried or attempts > 1
            if finished:
                ends.append(int(float(finished)))
        statuses.append(step_status(task, skippable, enqueued))
    status = workflow_status(statuses)
    finished = None
    if status in indexes.FINISHED_STATES:
        finished = max(ends) if ends else int(rec["created"])
    return Observation(wid, rec, status, version, finished, retried)


@lru_cache(maxsize=1024)
def _step_meta(steps_json: str) -> tuple[tuple[str, bool], ...]:
    """(task id, skippable) of each step of a record's ``steps`` (parsed once
    per workflow and process: a workflow is observed more than once)."""
    return tuple((m["task"], bool(m["skippable"])) for m in json.loads(steps_json).values())


def _text(value):
    """A reply value as text (a client may not decode replies)."""
    return value.decode() if isinstance(value, bytes) else value


def file(client, keys: Keys, seen: list[Observation], now_ms: int = 0,
         started: list[tuple[str, int]] = ()) -> int:
    """File each observed workflow under its status, and the ``started``
    (see queue_file), in one wf_state-5.lua call (a workflow moved meanwhile
    by another follow-up is observed and filed again); returns how many
    outcomes this call recorded."""
    wk = WorkflowKeys(keys.prefix)
    recorded = 0
    for _ in range(REFILE_TRIES):
        calls = client.pipeline(transaction=False)
        filed = queue_file(calls, wk, seen, now_ms, started)
        started = ()
        if not calls.command_stack:
            break
        codes = [int(x) for x in execute(calls)[0]]
        recorded += codes.count(2)
        moved = {o.id: o.record["queue"] for o, x in zip(filed, codes) if x == -1}
        seen = observe(client, keys, moved) if moved else []
    return recorded


def queue_file(pipe, wk: WorkflowKeys, seen: list[Observation], now_ms: int = 0,
               started: list[tuple[str, int]] = ()) -> list[Observation]:
    """Queue one wf_state-5.lua call filing ``seen`` on ``pipe``, and the
    ``started`` (workflow id, Redis TIME in microseconds after a claim of
    one of its steps: see the script); none when there is nothing to file.
    Returns the observations it files, in the order of the codes its one
    reply holds (the starts' codes follow)."""
    args: list = [now_ms, STATS_TTL]
    out = []
    for o in seen:
        if o.record is None or o.status is None:
            continue
        rec = o.record
        filed = rec.get("state") or rec.get("outcome") or "open"  # older releases: see wf_state
        args += [o.id, "seen", o.version, filed, o.status]
        if o.finished_ms is None:
            args.append("")
        else:
            duration = max(0, o.finished_ms - int(rec["created"]))
            args += [o.finished_ms, duration, "1" if o.retried else "0", histogram.bucket(duration)]
        out.append(o)
    for wid, at in started:
        args += [wid, "start", at]
    if out or started:
        s = script("wf_state")
        pipe.evalsha(s.sha, s.numkeys, wk.run_prefix, wk.index_prefix, wk.check, wk.ended,
                     wk.stats_prefix, *args)
    return out


def follow_up(client, keys: Keys, workflows: dict[str, str | None]) -> int:
    """Observe these workflows and file them (two round trips); returns how
    many outcomes were recorded. Never raises: a follow-up that fails is
    the sweep's to make (see the module docstring)."""
    if not workflows:
        return 0
    try:
        return file(client, keys, observe(client, keys, workflows))
    except Exception as exc:  # noqa: BLE001  (the step changed; the sweep files it)
        log.warning("workflow status follow-up failed (the sweep will file it): %s", exc)
        return 0


def step_workflows(client, keys: Keys, task_ids: list[str]) -> dict[str, str]:
    """{workflow id: queue} of the workflow steps among ``task_ids`` (one
    round trip: each task's func and kwargs)."""
    pipe = client.pipeline(transaction=False)
    for tid in task_ids:
        pipe.hmget(keys.queue(queue_of(tid)).task(tid), "func", "kwargs")
    out = {}
    for tid, (func, kwargs) in zip(task_ids, pipe.execute()):
        if _text(func) == RUNNER:
            try:
                wid = json.loads(kwargs).get("workflow")
            except (TypeError, ValueError, AttributeError):
                continue
            if isinstance(wid, str):
                out[wid] = queue_of(tid)
    return out


def after_tasks(client, keys: Keys, task_ids: list[str], workflows: dict[str, str] | None = None) -> int:
    """The follow-up of a change made to engine tasks by id (cancel, retry,
    delete: taskq.Queue calls it), for those that are workflow steps;
    ``workflows``: step_workflows read before (a deleted task has no fields
    left to read). Never raises."""
    try:
        found = step_workflows(client, keys, task_ids) if workflows is None else workflows
    except Exception as exc:  # noqa: BLE001  (the sweep files it)
        log.warning("workflow status follow-up failed (the sweep will file it): %s", exc)
        return 0
    return follow_up(client, keys, found)


def after_steps(client, keys: Keys, tasks: Iterable, event: str) -> int:
    """The follow-up of ``event`` ('claimed', 'completed', 'ended') on these
    engine tasks, for those that are workflow steps (taskq.lease calls it)."""
    return follow_up(client, keys, changed(tasks, event))
