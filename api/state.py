"""What the app shares across requests: one Redis client, the key builders,
parsed settings and the services (``app.extensions["taskq"]``).

Every service is built here, once per app, on one Keys; each store is built
once and handed to the services that need it. A dialect's own settings and
state live in the dialect registry (``app.extensions["taskq.dialects"]``).
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

from .credential_cache import CredentialCache
from .services.agents import AgentService
from .services.project_tasks import ProjectTaskService
from .services.sessions import SessionStore
from .services.system import SystemService
from .services.tasks import TaskService


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

    @property
    def instance_id(self) -> str:
        # computed per call: gunicorn forks workers after the app may exist
        return f"{socket.gethostname()}-{os.getpid()}"


def state() -> AppState:
    return current_app.extensions["taskq"]
