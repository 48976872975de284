"""Keys of the webhooks, the REST dialects' credentials and the TaskDriver
records (part of the key schema, taskq.keys)."""

from __future__ import annotations

from dataclasses import dataclass

from taskq.keys import TD_TAG, glob_escape


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
    project's tasks live in its own engine queue (taskq.projects.store.queue_name),
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
