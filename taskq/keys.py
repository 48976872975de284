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


@dataclass(frozen=True)
class WebhookKeys:
    prefix: str

    @property
    def endpoints(self) -> str:
        """Hash: endpoint id -> JSON (url, events, secret, created_at ms)."""
        return f"{self.prefix}:webhooks:endpoints"

    @property
    def pending(self) -> str:
        """Hash: '<stream>|<entry id>' -> JSON delivery state of that entry."""
        return f"{self.prefix}:webhooks:pending"

    @property
    def stats(self) -> str:
        """Hash: '<endpoint id>:<counter>' -> delivered, failed, last_status, ..."""
        return f"{self.prefix}:webhooks:stats"

    @property
    def since(self) -> str:
        """String: ms of the first endpoint; consumer groups start there."""
        return f"{self.prefix}:webhooks:since"


@dataclass(frozen=True)
class ApiKeys:
    prefix: str

    @property
    def api_keys(self) -> str:
        """Hash: sha256(api key) -> JSON record (id, name, scopes, ...)."""
        return f"{self.prefix}:api:keys"

    @property
    def instances(self) -> str:
        """Zset: API process id -> last seen ms (system status)."""
        return f"{self.prefix}:api:instances"

    def rate(self, identity: str, window: int) -> str:
        """Counter of one identity's requests in one fixed window."""
        return f"{self.prefix}:api:rate:{identity}:{window}"

    @property
    def requests(self) -> str:
        """Hash: HTTP requests answered by every API process: total, success,
        error, time_ms (sum of response times; /metrics/json)."""
        return f"{self.prefix}:api:requests"


@dataclass(frozen=True)
class DashboardKeys:
    """Sessions of the operator dashboard (api.dashboard): a cookie names
    one, stored by the sha256 of its token so a read of Redis yields no
    usable cookie."""

    prefix: str

    def session(self, token_hash: str) -> str:
        """Hash with a TTL: who logged in (scopes, credential), the CSRF token."""
        return f"{self.prefix}:dash:session:{token_hash}"


@dataclass(frozen=True)
class TaskDriverKeys:
    """Projects, task types and agent sessions of the TaskDriver dialect. A
    project's tasks live in its own engine queue (taskq.projects.queue_name),
    so they use that queue's keys. Every key carries the ``{td}`` hash tag,
    so the MULTIs that create a project or a session touch one slot."""

    prefix: str

    @property
    def base(self) -> str:
        return f"{self.prefix}:{{{TD_TAG}}}:"

    @property
    def projects(self) -> str:
        """Zset: project id -> created ms (listing order)."""
        return f"{self.base}projects"

    def project(self, project_id: str) -> str:
        """Hash: one project's fields and config."""
        return f"{self.base}project:{project_id}"

    @property
    def project_names(self) -> str:
        """Hash: project name -> id (names are unique)."""
        return f"{self.base}project-names"

    def task_types(self, project_id: str) -> str:
        """Zset: a project's task type ids -> created ms."""
        return f"{self.base}project:{project_id}:types"

    def type_names(self, project_id: str) -> str:
        """Hash: task type name -> id, per project (names are unique in a project)."""
        return f"{self.base}project:{project_id}:type-names"

    def task_type(self, type_id: str) -> str:
        """String: one task type as JSON."""
        return f"{self.base}type:{type_id}"

    @property
    def reaper(self) -> str:
        """Zset: project id -> ms when its reaper runs next."""
        return f"{self.base}reaper"

    @property
    def reaped(self) -> str:
        """Hash: project id -> ms when its reaper last ran."""
        return f"{self.base}reaped"

    def agent_lock(self, project_id: str, agent: str) -> str:
        """String with a TTL: held while one next-task call of this agent runs."""
        return f"{self.base}agent-lock:{project_id}:{agent}"

    def session(self, token_hash: str) -> str:
        """Hash with a TTL: one agent session, by sha256 of its token."""
        return f"{self.base}session:{token_hash}"

    @property
    def sessions(self) -> str:
        """Zset: sha256 of session token -> expiry ms (active session count)."""
        return f"{self.base}sessions"


@dataclass(frozen=True)
class TaskDriverKeysV1:
    """Where key schema 1 kept what TaskDriverKeys names now: the same
    names under ``<prefix>:td:``, without a hash tag. Read only by the
    migration to schema 2 (taskq.migrations)."""

    prefix: str

    @property
    def pattern(self) -> str:
        """SCAN pattern matching every schema-1 TaskDriver key."""
        return glob_escape(f"{self.prefix}:td:") + "*"

    @property
    def indexes(self) -> tuple[str, ...]:
        """The keys that exist whenever schema-1 TaskDriver data does."""
        return tuple(f"{self.prefix}:td:{name}"
                     for name in ("projects", "project-names", "reaper", "reaped", "sessions"))

    def renamed(self, old_key: str) -> str:
        """The schema-2 name of ``old_key`` (one of this layout's keys)."""
        head = f"{self.prefix}:td:"
        if not old_key.startswith(head):
            raise ValueError(f"not a schema-1 TaskDriver key: {old_key!r}")
        return TaskDriverKeys(self.prefix).base + old_key[len(head):]


def glob_escape(text: str) -> str:
    """``text`` as a literal in a SCAN / KEYS pattern."""
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


@lru_cache(maxsize=4096)
def _queue_keys(prefix: str, name: str) -> QueueKeys:
    # Queue keys are immutable and built on every script call: build once.
    return QueueKeys(prefix, name)


WORKFLOW_STATES = ("all", "pending", "in_progress", "complete", "error", "cancelled", "open")
"""The workflow indexes kept per scope: every workflow, and one per status
(taskq.workflows.status keeps them). ``open`` is read by nothing: it held the
unfinished workflows of older releases, and is emptied as they finish."""


@dataclass(frozen=True)
class WorkflowKeys:
    """Workflow handlers published for every process, and workflow runs.
    A run's record, its indexes and the workflow analytics carry the
    ``{wf}`` hash tag, so the scripts that record an outcome or prune a run
    touch one slot; a workflow's step tasks live in an engine queue and use
    that queue's keys."""

    prefix: str

    @property
    def handlers(self) -> str:
        """Hash: 'namespace.name@version' -> JSON definition (published by workers)."""
        return f"{self.prefix}:wf:handlers"

    @property
    def namespaces(self) -> str:
        """Hash: namespace -> description."""
        return f"{self.prefix}:wf:namespaces"

    @property
    def base(self) -> str:
        return f"{self.prefix}:{{{WF_TAG}}}:"

    def workflow(self, workflow_id: str) -> str:
        """Hash: one workflow's record (handler, version, context, queue, steps,
        inputs:<step>; creating until its steps are enqueued; state, the
        status it is filed under, and seen, when that was observed; outcome
        and finished once recorded; fact:<step>:<attempt> markers of the
        step facts counted)."""
        return f"{self.run_prefix}{workflow_id}"

    @property
    def run_prefix(self) -> str:
        """What a workflow id is appended to for its record (scripts reading many)."""
        return f"{self.base}run:"

    def scoped(self, state: str, scope: str) -> str:
        """Zset: workflow id -> created (microseconds of Redis TIME), for one
        state of WORKFLOW_STATES and one scope (taskq.workflows.indexes:
        '*', or a namespace / name / version filter)."""
        if state not in WORKFLOW_STATES:
            raise KeyError(state)
        return f"{self.index_prefix}{state}:{scope}"

    @property
    def index_prefix(self) -> str:
        """What '<state>:<scope>' is appended to for an index (the script filing many)."""
        return f"{self.base}ix:"

    @property
    def stats_prefix(self) -> str:
        """What an epoch hour is appended to for its stats hash (the script filing many)."""
        return f"{self.base}stats:"

    @property
    def index(self) -> str:
        """Zset: every workflow id -> created (listing, newest first)."""
        return self.scoped("all", "*")

    @property
    def check(self) -> str:
        """Zset: open workflow id -> ms when the sweep looks at it next."""
        return f"{self.base}check"

    @property
    def ended(self) -> str:
        """Zset: finished workflow id -> finished ms (pruning order)."""
        return f"{self.base}ended"

    def stats(self, hour: int) -> str:
        """Hash with a TTL: the analytics counters of one epoch hour
        (taskq.workflows.outcomes writes them, taskq.workflows.analytics reads)."""
        return f"{self.stats_prefix}{hour}"

    def analytics_cache(self, report: str, digest: str) -> str:
        """String with a TTL: one analytics report as JSON, per query digest."""
        return f"{self.base}cache:{report}:{digest}"


@dataclass(frozen=True)
class ScheduleKeys:
    """Schedules (taskq.schedules): every key carries the ``{schedules}`` hash
    tag, so the firing and transition scripts touch one slot; the runs they
    create live in their queues' slots and are enqueued by a follow-up call
    (the outbox), as cross-queue dependencies are."""

    prefix: str

    @property
    def base(self) -> str:
        return f"{self.prefix}:{{{SCHEDULES_TAG}}}:"

    def schedule(self, schedule_id: str) -> str:
        """Hash: one schedule's fields; ``payload`` is the client's JSON text."""
        return f"{self.base}s:{schedule_id}"

    def runs(self, schedule_id: str) -> str:
        """List: the schedule's recent runs, newest first (bounded)."""
        return f"{self.base}runs:{schedule_id}"

    @property
    def schedule_prefix(self) -> str:
        """+ schedule id -> the schedule hash (how the batched fire script reaches each one)."""
        return self.schedule("")

    @property
    def runs_prefix(self) -> str:
        """+ schedule id -> the schedule's runs list."""
        return self.runs("")

    @property
    def dedupe_prefix(self) -> str:
        """+ dedupe key -> the schedule dedupe string (see dedupe)."""
        return self.dedupe("")

    @property
    def listing_prefix(self) -> str:
        """+ '<status>:<kind>:<created_by>' ('*' = any) -> zset of schedule ids,
        score = created ms: one per filter combination, so a filtered page
        costs O(page). The unfiltered listing is ``index``."""
        return f"{self.base}ix:"

    def listing(self, status: str | None, kind: str | None, created_by: str | None) -> str:
        if status is None and kind is None and created_by is None:
            return self.index
        return f"{self.listing_prefix}{status or '*'}:{kind or '*'}:{created_by or '*'}"

    @property
    def listing_version(self) -> str:
        """String: the listing indexes' format version, set once they are
        complete (schedules stored before they existed are added first)."""
        return f"{self.base}ix-version"

    @property
    def due(self) -> str:
        """Zset: schedule id -> next due ms (active timed schedules only)."""
        return f"{self.base}due"

    @property
    def index(self) -> str:
        """Zset: every schedule id -> created ms (listing order)."""
        return f"{self.base}index"

    @property
    def outbox(self) -> str:
        """Stream: runs fired but not yet enqueued as engine tasks."""
        return f"{self.base}outbox"

    def event(self, name: str) -> str:
        """Set: ids of the event schedules that fire on event ``name``."""
        return f"{self.base}event:{name}"

    def dedupe(self, dedupe_key: str) -> str:
        """String with a TTL: held while a run with this dedupe key is recent."""
        return f"{self.base}dedupe:{dedupe_key}"
