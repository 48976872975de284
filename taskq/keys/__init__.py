"""The Redis key schema: the only place where taskq builds key strings.

Every key of a queue carries the queue's hash tag (``taskq:{<queue>}:...``) so
that all keys one Lua script touches live in one cluster slot. Lua scripts
receive the whole list from :meth:`QueueKeys.script_keys` and never build a
key from a literal; per-task keys are built in Lua only by appending a task id
to one of the declared ``*_prefix`` keys, which carry the same hash tag.

Task ids embed their queue (``<queue>:<local id>``), so any id resolves to
its queue, and so to its keys, without a lookup or a scan.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

DEFAULT_PREFIX = os.environ.get("TASKQ_PREFIX", "taskq")

QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
"""Queue names: URL-safe, no hash-tag braces, no ':' (it separates task ids)."""

TD_TAG, WF_TAG, SCHEDULES_TAG = "td", "wf", "schedules"
"""The hash tags of TaskDriver's, the workflows' and the schedules' keys."""
RESERVED_QUEUE_NAMES = frozenset({TD_TAG, WF_TAG, SCHEDULES_TAG})
"""A queue's keys carry its name as their hash tag, so a queue named like one
of the tags above would share (and a purge of it would delete) those keys."""

WORKFLOW_QUEUE = "workflows"
"""The engine queue every workflow step runs in (taskq.workflows)."""

ID_SEP = ":"
"""Separates the queue name from the local part of a task id."""

# The order of the keys every queue script receives (KEYS[1..N]).
# taskq/lua/includes/queue_keys.lua names them in the same order; a test
# keeps the two in step.
SCRIPT_KEY_NAMES: tuple[str, ...] = (
    "meta",        # hash: paused flag, FIFO sequence, defaults
    "queued",      # zset: ready tasks, score = priority band + sequence
    "delayed",     # zset: tasks waiting for a time, score = due ms
    "blocked",     # zset: tasks waiting on dependencies, score = created ms
    "running",     # zset: leased tasks, score = lease expiry ms
    "completed",   # zset: score = finished ms
    "failed",      # zset: score = finished ms
    "cancelled",   # zset: score = finished ms
    "all",         # zset: every task, score = created ms (listing, retention)
    "stats",       # hash: lifetime counters per event
    "events",      # stream: one entry per transition (capped)
    "conc",        # hash: concurrency key -> tasks running
    "outbox",      # list: cross-queue dependency follow-ups still to deliver
    "wake",        # list: tokens that wake blocked workers (BLPOP)
    "series",      # hash: per-minute and per-hour counters for analytics
    "task_prefix",        # + id -> hash: the task
    "log_prefix",         # + id -> list: the task's log lines (bounded)
    "waiting_prefix",     # + id -> set: dependency ids not yet resolved
    "dependents_prefix",  # + id -> set: ids of tasks waiting on this one
    "dedupe_prefix",      # + dedupe key -> string: id of the task holding it
    "tag_prefix",         # + tag -> zset: ids with that tag, score = created ms
    "parked_prefix",      # + concurrency key -> zset: ready tasks waiting for a free
                          #   slot of that key, score = ready score (claims skip them)
    "held_prefix",        # + holder (worker id or agent name) -> zset: ids it holds
                          #   leased, score = lease expiry ms
    "notify_prefix",      # no key: the name of the queue's pub/sub channel, where a
                          #   task that ends with a waiter (Task.wait) publishes its
                          #   outcome (taskq.waiter_hub)
    "expiry",      # zset: finished tasks with a retention of their own or their
                   #   queue's, score = ms when retention removes them
    "gone",        # zset: tombstones of tasks retention removed, score =
                   #   finished ms * 4 + outcome (0 completed, 1 failed, 2 cancelled)
    "rates",       # hash: rate key -> "<limit>:<period ms>"; the field "" is the
                   #   queue's own limit (taskq.rates)
    "rate_prefix",        # + rate key -> zset: the starts inside its window, score =
                          #   start ms (a sliding log, trimmed as it is read); the
                          #   prefix itself ("" key) logs the queue's own starts
    "rate_parked_prefix", # + rate key -> zset: ready tasks held back by that key's
                          #   limit, score = ready score (claims skip them)
    "rate_due",    # zset: rate keys with parked tasks, score = ms when their window
                   #   next has room (a claim lets them back then)
)

STATUSES = ("queued", "delayed", "blocked", "running", "completed", "failed", "cancelled")
"""Every task status; each names the zset (a key above) indexing tasks in it."""
TERMINAL_STATUSES = ("completed", "failed", "cancelled")


def valid_queue_name(name: str) -> bool:
    return (isinstance(name, str) and bool(QUEUE_NAME_RE.match(name))
            and name not in RESERVED_QUEUE_NAMES)


def queue_of(task_id: str) -> str:
    """The queue a task id belongs to (ValueError when it is not a task id)."""
    if not isinstance(task_id, str) or ID_SEP not in task_id:
        raise ValueError(f"not a taskq task id: {task_id!r}")
    queue, _, local = task_id.partition(ID_SEP)
    if not local or not valid_queue_name(queue) or ID_SEP in local:
        raise ValueError(f"not a taskq task id: {task_id!r}")
    return queue


@dataclass(frozen=True)
class Keys:
    """Key builder for one key prefix (tests use their own prefix)."""

    prefix: str = DEFAULT_PREFIX

    @property
    def queues(self) -> str:
        """Set of every queue name ever used (drives the reaper)."""
        return f"{self.prefix}:queues"

    @property
    def workers(self) -> str:
        """Zset of worker ids, score = last heartbeat ms."""
        return f"{self.prefix}:workers"

    def worker(self, worker_id: str) -> str:
        """Hash describing one worker (see taskq.worker_registry)."""
        return f"{self.prefix}:worker:{worker_id}"

    @property
    def events(self) -> str:
        """Stream of events that belong to no queue (worker.registered, ...)."""
        return f"{self.prefix}:events"

    @property
    def scheduler_leader(self) -> str:
        """String: id of the scheduler holding leadership, with a TTL."""
        return f"{self.prefix}:scheduler:leader"

    @property
    def schedulers(self) -> str:
        """Zset of running scheduler ids, score = last seen ms."""
        return f"{self.prefix}:schedulers"

    @property
    def schema(self) -> str:
        """String: the key-schema version of everything under this prefix
        (taskq.schema); absent before the first start of a versioned taskq."""
        return f"{self.prefix}:schema"

    @property
    def write_probe(self) -> str:
        """Never created: ``SET <it> 1 XX`` asks a full Redis whether it
        takes writes again without writing anything (workers/outage.py)."""
        return f"{self.prefix}:write-probe"

    def queue(self, name: str) -> "QueueKeys":
        return _queue_keys(self.prefix, name)


@dataclass(frozen=True)
class QueueKeys:
    prefix: str
    name: str

    @cached_property
    def base(self) -> str:
        return f"{self.prefix}:{{{self.name}}}:"

    def __getattr__(self, item: str) -> str:
        # Only names from the schema resolve; anything else is a bug.
        if item in SCRIPT_KEY_NAMES:
            suffix = item[: -len("_prefix")] + ":" if item.endswith("_prefix") else item
            return self.base + suffix
        raise AttributeError(item)

    @cached_property
    def polled(self) -> str:
        """String with a TTL: an HTTP agent asked this queue for work lately,
        so it is served though no worker is registered on it (read by no
        script; taskq.monitoring.latency)."""
        return self.base + "polled"

    @cached_property
    def script_keys(self) -> list[str]:
        """KEYS for every queue script, in SCRIPT_KEY_NAMES order."""
        return [getattr(self, n) for n in SCRIPT_KEY_NAMES]

    def task(self, task_id: str) -> str:
        return self.task_prefix + task_id

    def log(self, task_id: str) -> str:
        return self.log_prefix + task_id

    def waiting(self, task_id: str) -> str:
        return self.waiting_prefix + task_id

    def dependents(self, task_id: str) -> str:
        return self.dependents_prefix + task_id

    def tag(self, tag: str) -> str:
        return self.tag_prefix + tag

    def parked(self, concurrency_key: str) -> str:
        return self.parked_prefix + concurrency_key

    def rate_log(self, rate_key: str = "") -> str:
        """The sliding log of a rate key's starts ("": the queue's own)."""
        return self.rate_prefix + rate_key

    def rate_parked(self, rate_key: str) -> str:
        return self.rate_parked_prefix + rate_key

    def held(self, holder: str) -> str:
        return self.held_prefix + holder

    @property
    def notify_channel(self) -> str:
        """Pub/sub channel of the queue's waited outcomes (taskq.waiter_hub)."""
        return self.notify_prefix

    def status_index(self, status: str) -> str:
        if status not in STATUSES:
            raise KeyError(status)
        return getattr(self, status)

    @property
    def pattern(self) -> str:
        """SCAN pattern matching every key of this queue (for purge)."""
        return self.base.replace("{", "\\{").replace("}", "\\}") + "*"


def glob_escape(text: str) -> str:
    """``text`` as a literal in a SCAN / KEYS pattern."""
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


@lru_cache(maxsize=4096)
def _queue_keys(prefix: str, name: str) -> QueueKeys:
    # Queue keys are immutable and built on every script call: build once.
    return QueueKeys(prefix, name)


# The keys of the dialects' and the workflow/schedule records live beside
# this module; importing them here keeps ``from taskq.keys import X`` the one
# way to reach any key.
from taskq.keys.dialects import (  # noqa: E402,F401
    ApiKeys, DashboardKeys, TaskDriverKeys, TaskDriverKeysV1, WebhookKeys)
from taskq.keys.flows import WORKFLOW_STATES, ScheduleKeys, WorkflowKeys  # noqa: E402,F401

__all__ = [
    "DEFAULT_PREFIX", "QUEUE_NAME_RE", "TD_TAG", "WF_TAG", "SCHEDULES_TAG",
    "RESERVED_QUEUE_NAMES", "ID_SEP", "SCRIPT_KEY_NAMES", "STATUSES", "TERMINAL_STATUSES",
    "valid_queue_name", "queue_of", "glob_escape", "Keys", "QueueKeys",
    "WebhookKeys", "ApiKeys", "DashboardKeys", "TaskDriverKeys", "TaskDriverKeysV1",
    "WORKFLOW_STATES", "WorkflowKeys", "ScheduleKeys",
]
