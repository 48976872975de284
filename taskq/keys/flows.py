"""Keys of workflow runs and schedules (part of the key schema, taskq.keys)."""

from __future__ import annotations

from dataclasses import dataclass

from taskq.keys import SCHEDULES_TAG, WF_TAG


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
    def gone(self) -> str:
        """Zset: tombstones of workflows the sweep pruned, workflow id ->
        finished ms * 4 + outcome (0 complete, 1 error, 2 cancelled), kept
        as the engine's (taskq.retention)."""
        return f"{self.base}gone"

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
    def wake(self) -> str:
        """List: pushed when a change makes a schedule due sooner than every
        other; the scheduler sleeping until the earliest due time BLPOPs it."""
        return f"{self.base}wake"

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
