"""What the app shares across requests: one Redis client, the key builders,
parsed settings and the services (``app.extensions["taskq"]``).

Every service is built here, once per app, on one Keys, and nowhere else:
the classes of api/services/ and the engine's stores (TaskTypeStore and
its ProjectStore, WebhookStore, WorkerRegistry); each store is built once
and handed to the services that need it. A service's own settings come
with it (TASKQ_SCHEDULE_FUNCTIONS, the schedule service's allow-list,
arrives as ``schedule_functions``).

The rule (api.services says it too, tests/unit/test_service_boundary.py
holds it): the REST dialects (api/dialects/) and the dashboard
(api/dashboard/) never talk to Redis themselves. They hold no client
(no ``import redis``, no ``.redis`` or ``.pipeline``), import no engine
module that issues Redis commands (only pure ones: errors, ids, times,
option checks, key names, graphs, parsers), and reach Redis through the
services here, the stores these return (a Queue from ``tasks.queue``, the
schedule service's ``store``), or the two checks below that wrap the
shared HTTP plumbing (:meth:`AppState.authenticate`,
:meth:`AppState.count_rate`). A dialect's make_state picks services from
here and parses its own settings; its state lives in the dialect
registry (``app.extensions["taskq.dialects"]``).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field

from flask import current_app

from taskq.keys import ApiKeys, Keys
from taskq.projects.task_types import TaskTypeStore
from taskq.webhooks.store import WebhookStore
from taskq.worker_registry import WorkerRegistry

from . import ratelimit
from .auth import authenticate
from .credential_cache import CredentialCache
from .services.agents import AgentService
from .services.analytics import AnalyticsService
from .services.dashboard_sessions import DashboardSessionStore
from .services.labels import LabelService
from .services.project_tasks import ProjectTaskService
from .services.schedules import ScheduleService
from .services.sessions import SessionStore
from .services.system import SystemService
from .services.tasks import TaskService
from .services.workflows import WorkflowService


@dataclass
class AppState:
    redis: object
    keys: Keys
    jwt_secret: str | None
    rate: tuple[int, int] | None
    rate_ip: tuple[int, int] | None
    cors_origins: frozenset[str]
    rate_login: tuple[int, int] | None = None       # POST /api/auth/login per client IP
    metrics_token: str | None = None                # TASKQ_METRICS_TOKEN
    rate_dashboard: tuple[int, int] | None = None   # TASKQ_DASHBOARD_RATE_LIMIT, per session
    dashboard_ttl: int = 28800                      # TASKQ_DASHBOARD_SESSION_TTL, seconds
    schedule_functions: tuple[str, ...] = ()        # TASKQ_SCHEDULE_FUNCTIONS (api.services.schedules)
    started: float = field(default_factory=time.time)
    last_beat: float = 0.0

    def __post_init__(self):
        self.api_keys = ApiKeys(self.keys.prefix)
        self.credentials = CredentialCache()  # checked JWTs and parsed API key records
        self.tasks = TaskService(self.redis, self.keys)
        self.types = TaskTypeStore(self.redis, self.keys.prefix)
        self.projects = self.types.projects  # the one ProjectStore (TaskTypeStore builds it)
        self.project_tasks = ProjectTaskService(self.tasks, self.projects, self.types)
        self.agents = AgentService(self.tasks, self.projects)
        self.sessions = SessionStore(self.redis, self.keys.prefix)
        self.workers = WorkerRegistry(self.redis, self.keys)
        self.system = SystemService(self.redis, self.keys, self.api_keys, self.workers, self.started)
        self.webhooks = WebhookStore(self.redis, self.keys)
        self.labels = LabelService(self.redis, self.keys)
        self.workflows = WorkflowService(self.redis, self.keys.prefix, self.workers)
        self.analytics = AnalyticsService(self.redis, self.keys.prefix)
        self.schedules = ScheduleService(self.redis, self.keys.prefix, self.schedule_functions)
        self.dashboard_sessions = DashboardSessionStore(self.redis, self.keys.prefix)

    def authenticate(self, header: str | None):
        """The caller an Authorization header names (api.auth.authenticate
        on this app's client, keys, sessions and credential cache)."""
        return authenticate(header, self.jwt_secret, self.redis, self.api_keys, self.sessions,
                            self.credentials)

    def count_rate(self, identity: str, rate: tuple[int, int] | None):
        """Count one request of ``identity`` against ``rate`` (api.ratelimit.count)."""
        return ratelimit.count(self.redis, self.api_keys, identity, rate)

    @property
    def instance_id(self) -> str:
        # computed per call: gunicorn forks workers after the app may exist
        return f"{socket.gethostname()}-{os.getpid()}"


def state() -> AppState:
    return current_app.extensions["taskq"]
