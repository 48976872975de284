"""Claiming tasks, and what the holder of a lease may do with it.

A claim leases tasks under a random token; every later call presents it, so
a holder whose lease expired (and whose task may already run elsewhere)
changes nothing: it gets LeaseLost. Batch helpers pipeline many leases'
completions into one round trip, which is where throughput comes from.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Sequence

from . import deps
from .connection import as_taskq_client
from .errors import NOOP, OK, TaskqValueError, raise_for
from .ids import new_token
from .keys import Keys, queue_of
from .options import check_json_text, json_text
from .lua import call, execute, script
from .task import Task, ms_to_dt

log = logging.getLogger("taskq.lease")

DEFAULT_LEASE = 30.0
"""Seconds a claim holds a task unless renewed (heartbeat) or overridden."""
WORKER_LEASE = 5.0
"""Seconds a taskq worker holds each task it claimed, running or prefetched:
short, because the worker renews all of them in one call per queue every
third of it (:func:`renew_many`), so a SIGKILLed worker's tasks come back
within about this long instead of waiting out DEFAULT_LEASE."""
LOG_MAX_LINES = 1000
"""Each task keeps only its newest log lines."""
LOG_LEVELS = ("debug", "info", "warn", "error")
_STEP_RUNNER = "taskq.workflows.runner:run_step"
"""The func of a workflow step's engine task (taskq.workflows.states.RUNNER;
spelled out here so that importing taskq.lease does not import taskq.workflows)."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_RESULT_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)
"""One encoder for every result (json.dumps with options builds a new one
per call, which a worker completing thousands a second pays for)."""


def _json(value: Any) -> str:
    return _RESULT_ENCODER.encode(value)


@dataclass
class Lease:
    """A claimed task and the token that proves the claim."""

    task: Task
    token: str
    client: Any
    keys: Keys
    length: float = DEFAULT_LEASE
    """Seconds the claim holds the task: the task's own ``lease`` option, else
    the claimer's; what a renewal extends by unless told otherwise."""
    preread: Any = field(default=None, repr=False, compare=False)
    """What a worker read for the task together with others of its claim, so
    the task need not read it alone (workflow steps: taskq.workflows.runner)."""
    after: list | None = field(default=None, repr=False, compare=False)
    """Script calls (name, keys, args) to send in the same round trip as
    this lease's completion. A worker that batches completions sets it to
    [] (see complete_and_claim); None: the holder sends its own calls."""

    def __post_init__(self) -> None:
        self.client = as_taskq_client(self.client)

    @property
    def id(self) -> str:
        return self.task.id

    @property
    def _qkeys(self):
        return self.keys.queue(queue_of(self.task.id))

    def _call(self, verb: str, *args) -> list:
        reply = call(self.client, verb, self._qkeys, self.id, self.token, *args)
        raise_for(reply[0], self.id, reply[1] if len(reply) > 1 else None)
        return reply

    def heartbeat(self, lease: float | None = None) -> bool:
        """Renew the lease for ``lease`` seconds (default: its length) from
        now; True when cancel was requested (stop, then call :meth:`cancelled`)."""
        seconds = self.length if lease is None else lease
        reply = self._call("heartbeat", int(seconds * 1000), "renew")
        return bool(reply[2])

    def extend(self, seconds: float) -> datetime:
        """Push the lease expiry ``seconds`` further; returns the new expiry."""
        reply = self._call("heartbeat", int(seconds * 1000), "extend")
        return ms_to_dt(reply[1])

    def checkpoint(self, data: Any) -> None:
        self._call("checkpoint", check_json_text("checkpoint", _json(data)))

    def save_meta(self, meta: dict) -> None:
        """Replace the running task's meta, fenced by this lease (RQ's
        ``job.save_meta()`` from inside a job: a queued task's meta goes
        through ``Queue.update``)."""
        if not isinstance(meta, dict):
            raise TaskqValueError("meta must be a dict")
        self._call("checkpoint", json_text("meta", meta), "meta")  # checked as enqueue's meta

    def log(self, message: str, level: str = "info") -> None:
        self.log_many([(level, message)])

    def log_many(self, lines: Iterable[tuple[str, str]]) -> None:
        flat: list[str] = []
        for level, message in lines:
            flat += [level if level in LOG_LEVELS else "info", str(message)]
        if flat:
            self._call("log", LOG_MAX_LINES, *flat)

    def complete(self, result: Any = None) -> bool:
        """Complete the task. False when it was already completed with this
        token (a duplicate complete is harmless); LeaseLost when the token
        no longer holds it."""
        reply = call(self.client, "complete", self._qkeys, 1, self.id, self.token, _json(result))
        code, detail = reply[2], reply[3]
        raise_for(code, self.id, detail or None)
        if reply[1]:
            deps.drain_outbox(self.client, self.keys, queue_of(self.id))
        if code == 1:
            workflow_follow_up(self.client, self.keys, [self], "completed")
        return code == 1

    def release(self) -> str:
        """Give the task back unused: queued again at once, attempt not
        counted ('queued'); if a cancel was requested it ends 'cancelled'."""
        reply = self._call("release")
        if reply[1] == "cancelled" and reply[2]:
            deps.drain_outbox(self.client, self.keys, queue_of(self.id))
        workflow_follow_up(self.client, self.keys, [self], "ended")
        return reply[1]

    def fail(self, error: str, retryable: bool = True) -> str:
        """Report this attempt failed: 'retrying', 'failed' or 'cancelled'."""
        return self._finish_failed(str(error), retryable, "fail")

    def cancelled(self, reason: str = "cancelled") -> str:
        """Acknowledge a requested cancel: the task ends cancelled."""
        return self._finish_failed(reason, False, "cancel")

    def _finish_failed(self, error: str, retryable: bool, mode: str) -> str:
        reply = self._call("fail", error, "1" if retryable else "0", repr(random.random()), mode)
        if reply[0] == 0:  # this holder already reported: the task's final status
            return reply[1]
        if reply[1] in ("failed", "cancelled") and reply[2]:
            deps.drain_outbox(self.client, self.keys, queue_of(self.id))
        workflow_follow_up(self.client, self.keys, [self], "ended")
        return reply[1]


def claim(client, keys: Keys, queues: Sequence[str], n: int = 1,
          lease: float = DEFAULT_LEASE, worker: str | None = None) -> list[Lease]:
    """Lease up to n tasks, taking from the queues in the order given.
    ``client`` is any redis-py client (see taskq.connection)."""
    leases = complete_and_claim(client, keys, [], queues, n, lease, worker)[1]
    workflow_follow_up(client, keys, leases, "claimed")
    return leases


def complete_many(client, items: Sequence[tuple[Lease, Any]]) -> list[bool]:
    """Complete many leases in one round trip (one script call per queue).
    Returns, per lease, True when it completed, False for a harmless
    duplicate or a refusal (lease lost), so one stale lease does not hide
    the others' outcome. ``client`` is any redis-py client."""
    if not items:
        return []
    done = complete_and_claim(client, items[0][0].keys, items, [], 0)[0]
    workflow_follow_up(client, items[0][0].keys, [lease for (lease, _), ok in zip(items, done) if ok],
                       "completed")
    return done


def workflow_follow_up(client, keys: Keys, leases: Sequence[Lease], event: str) -> None:
    """After a claim, completion, failure or release went through: file the
    workflows of the steps among ``leases`` under their new status
    (taskq.workflows.status; nothing for other tasks; never raises).
    complete_and_claim does not: a pool worker follows up its own steps
    (taskq.workflows.follower)."""
    tasks = [held.task for held in leases if held.task.func == _STEP_RUNNER]
    if tasks:
        from .workflows.status import after_steps
        after_steps(client, keys, tasks, event)


def claim_args(n: int, token: str, lease: float, worker: str, cap: bool) -> list[Any]:
    """The claim script's ARGV (``cap``: ``lease`` also caps a task's own)."""
    return [n, token, int(lease * 1000), worker] + (["1"] if cap else [])


def leases_from_claim(reply: list, token: str, client, keys: Keys, lease: float,
                      cap: bool = False) -> list[Lease]:
    """The leases a claim script's reply hands out, each with its length."""
    out = []
    for tid, raw in reply[3:]:
        task = Task.from_hash(tid, raw)
        own = task.lease_seconds or lease
        out.append(Lease(task, token, client, keys, min(own, lease) if cap else own))
    return out


def renew_many(client, leases: Sequence[Lease]) -> list[int]:
    """Renew many leases, each for its own length, in one round trip (one
    script call per queue): per lease 1 renewed, 2 renewed and a cancel was
    requested, 0 refused (lost: let it go). The per-task cost of short
    leases is then a few bytes in one call, not a call."""
    if not leases:
        return []
    client = as_taskq_client(client)
    by_queue: dict[str, list[int]] = {}
    for i, held in enumerate(leases):
        by_queue.setdefault(queue_of(held.id), []).append(i)
    pipe = client.pipeline(transaction=False)
    for queue, idx in by_queue.items():
        args: list[Any] = [len(idx)]
        for i in idx:
            held = leases[i]
            args += [held.id, held.token, max(1, int(held.length * 1000))]
        call(pipe, "renew", leases[idx[0]].keys.queue(queue), *args)
    codes = [0] * len(leases)
    for idx, reply in zip(by_queue.values(), execute(pipe, raise_on_error=False)):
        if isinstance(reply, list):
            for j, i in enumerate(idx):
                codes[i] = int(reply[1 + j])
    return codes


def complete_and_claim(client, keys: Keys, items: Sequence[tuple[Lease, Any]],
                       queues: Sequence[str], n: int, lease: float = DEFAULT_LEASE,
                       worker: str | None = None, cap: bool = False,
                       resent: bool = False,
                       due: dict[str, int] | None = None) -> tuple[list[bool], list[Lease]]:
    """Complete finished leases and claim up to n new tasks in the same
    round trip (a worker's steady state); further queues in ``queues`` are
    asked in later round trips only while fewer than n were found.
    ``cap``: ``lease`` also caps each task's own lease option (a worker
    renewing in bulk, see WORKER_LEASE). ``resent``: a task already
    completed under the same lease token counts as done, not refused (a
    worker sending again completions whose reply an outage lost: the first
    send went through). ``due``: filled, for each queue a claim asked, with
    the milliseconds until its next delayed task is due or lease expires
    (-1: none), when a worker should claim it again even if no wake comes.
    ``client`` is any redis-py client."""
    client = as_taskq_client(client)
    by_queue: dict[str, list[int]] = {}
    for i, (held, _) in enumerate(items):
        by_queue.setdefault(queue_of(held.id), []).append(i)
    pipe = client.pipeline(transaction=False)
    for queue, idx in by_queue.items():
        args: list[Any] = [len(idx)]
        for i in idx:
            held, result = items[i]
            args += [held.id, held.token, _json(result)]
        call(pipe, "complete", keys.queue(queue), *args)
    riders = len(pipe)
    for held, _ in items:  # calls riding with the completions (Lease.after)
        for name, call_keys, call_args in held.after or ():
            s = script(name)
            pipe.evalsha(s.sha, s.numkeys, *call_keys, *call_args)
    riders = range(riders, len(pipe))
    worker = worker or default_worker_id()
    token = new_token()
    remaining = list(queues) if n > 0 else []
    if remaining:
        call(pipe, "claim", keys.queue(remaining[0]), *claim_args(n, token, lease, worker, cap))
    replies = execute(pipe, raise_on_error=False) if len(pipe) else []
    for i, reply in enumerate(replies):
        if isinstance(reply, Exception):
            if i not in riders:
                raise reply
            log.warning("a call sent with a completion failed: %s", reply)  # never fails the batch
    replies = [r for i, r in enumerate(replies) if i not in riders]
    done = [False] * len(items)
    outboxes = set()
    for (queue, idx), reply in zip(by_queue.items(), replies):
        for j, i in enumerate(idx):
            code = reply[2 + 2 * j]
            done[i] = code == OK or (resent and code == NOOP)
        if reply[1]:
            outboxes.add(queue)
    claimed: list[Lease] = []
    reply = replies[-1] if remaining else None
    while reply is not None:
        queue = remaining.pop(0)
        if reply[1]:
            outboxes.add(queue)
        if due is not None:
            due[queue] = int(reply[2])
        claimed += leases_from_claim(reply, token, client, keys, lease, cap)
        reply = None
        if remaining and len(claimed) < n:
            reply = call(client, "claim", keys.queue(remaining[0]),
                         *claim_args(n - len(claimed), token, lease, worker, cap))
    for queue in outboxes:
        deps.drain_outbox(client, keys, queue)
    return done, claimed
