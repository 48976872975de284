"""What a workflow step reads before it runs, read for many steps at once.

A step needs fields of its workflow's record (context, its inputs, the
handler's namespace / name / version its facts are counted under) and
the status, result and error of each dependency's engine task. Read alone,
that is one round trip per step, which costs more than the rest of a no-op
step; ``preread`` does the reads of every step among a worker's claimed
batch in one pipeline (the pool worker calls it on each batch) and leaves
each step's replies on its lease, so the runner reads only when nothing
was read for it (another worker kind, or the batch read failed).

Inputs are thus read when the step is claimed, just before it starts.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from ..keys import DEFAULT_PREFIX, Keys, WorkflowKeys, queue_of
from ..lua import execute, script
from .handlers import load_step
from .states import RUNNER

log = logging.getLogger("taskq.workflows")

STEP_FIELDS = ("context", "inputs:")
"""Record fields a step reads ('inputs:' + its name: its inputs)."""
DEP_FIELDS = ("status", "result", "error")
"""What a step reads of each dependency's engine task."""


def workflow_keys(keys) -> WorkflowKeys:
    return WorkflowKeys(keys.prefix if isinstance(keys, Keys) else DEFAULT_PREFIX)


def queue_reads(pipe, keys, workflow: str, step: str, deps: dict[str, str]) -> int:
    """Queue one step's reads on ``pipe``; how many replies they make."""
    pipe.hmget(workflow_keys(keys).workflow(workflow), "context", f"inputs:{step}")
    for tid in deps.values():
        pipe.hmget(keys.queue(queue_of(tid)).task(tid), *DEP_FIELDS)
    return 1 + len(deps)


def queue_records(pipe, wk: WorkflowKeys, lists: list[tuple[str, ...]], items: list) -> None:
    """Queue one wf_records-1.lua call: ``lists`` of record fields (a field
    ending in ':' is completed by an item's suffix), then ``items`` as
    (workflow id, 1-based list number, suffix) flattened. One reply: every
    item's values in turn."""
    args: list = [len(lists)]
    for fields in lists:
        args += [len(fields), *fields]
    s = script("wf_records")
    pipe.evalsha(s.sha, s.numkeys, wk.run_prefix, *args, *items)


def is_step_call(kwargs) -> bool:
    """Whether a task's kwargs are those engine.create gives a step (a task
    naming the runner with others fails when it runs; nothing is read for it)."""
    return (isinstance(kwargs, dict) and isinstance(kwargs.get("workflow"), str)
            and isinstance(kwargs.get("step"), str) and isinstance(kwargs.get("deps"), dict)
            and all(isinstance(t, str) for t in kwargs["deps"].values()))


def dep_hash(values: list) -> dict[str, str]:
    """One dependency's reply as the task hash fields it holds ({} = gone)."""
    return {k: v for k, v in zip(DEP_FIELDS, texts(values)) if v is not None}


def texts(values: list) -> list:
    """Reply values as text (the worker's client may not decode replies)."""
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def preread(client, keys, leases) -> None:
    """Read what every workflow step among ``leases`` needs in one round
    trip and leave it on its lease (``Lease.preread``). Best effort: on any
    error the steps read for themselves. (A pool worker does this on a
    thread of its own, with its status follow-ups: taskq.workflows.follower.)"""
    steps = [lease for lease in leases if lease.task.func == RUNNER]
    if not steps:
        return
    try:
        pipe = client.pipeline(transaction=False)
        _, leave = queue_prereads(pipe, keys, steps)
        leave(execute(pipe, raise_on_error=False))
    except Exception as exc:  # noqa: BLE001  (the steps read for themselves)
        log.debug("workflow step preread failed: %s", exc)


def queue_prereads(pipe, keys, steps, timed: set[str] = frozenset()):
    """Queue the reads of many step leases on ``pipe``: their records'
    fields in one wf_records-1.lua call, their dependencies in one
    wf_deps-1.lua call per queue (a few arguments per step, not a command
    each), which also reads the queue's Redis TIME (``timed``: queues whose
    TIME is wanted even without a dependency to read). Returns (how many
    replies, leave): ``leave(replies)`` puts each step's reads on its
    lease, in the shape of queue_reads' replies (a step whose reads failed
    gets none, and reads for itself), and returns {queue: TIME in
    microseconds} of the queues read."""
    wk = workflow_keys(keys)
    lists = [STEP_FIELDS]
    items: list = []
    deps: dict[str, list[str]] = {}  # queue -> dependency task ids, in order
    plan = []
    steps = [lease for lease in steps if is_step_call(lease.task.kwargs)]
    for queue in timed:
        deps[queue] = []
    for lease in steps:
        kw = lease.task.kwargs
        items += [kw["workflow"], 1, kw["step"]]
        spots = []
        for tid in kw["deps"].values():
            ids = deps.setdefault(queue_of(tid), [])
            spots.append((queue_of(tid), len(ids)))
            ids.append(tid)
        plan.append((len(STEP_FIELDS), spots))
    queue_records(pipe, wk, lists, items)
    d = script("wf_deps")
    for queue, ids in deps.items():
        pipe.evalsha(d.sha, d.numkeys, keys.queue(queue).task_prefix, *ids)

    def leave(replies: list) -> dict[str, int]:
        values, by_queue = replies[0], dict(zip(deps, replies[1:]))
        times = {queue: int(got[0]) * 1_000_000 + int(got[1])
                 for queue, got in by_queue.items() if not isinstance(got, Exception)}
        if isinstance(values, Exception):
            return times
        at = 0
        for lease, (n, spots) in zip(steps, plan):
            reads = [values[at:at + n]]
            at += n
            for queue, i in spots:
                got = by_queue[queue]
                if isinstance(got, Exception):
                    break
                reads.append(got[2 + 3 * i:5 + 3 * i])
            else:
                lease.preread = reads
        return times

    return 1 + len(deps), leave


@lru_cache(maxsize=1024)
def step_callable(handler_class: str):
    """load_step once per handler_class and process: one instance of a step
    class serves every run of that step here."""
    return load_step(handler_class)
