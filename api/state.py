"""What the app shares across requests: one Redis client, the key builders,
parsed settings and the services (``app.extensions["taskq"]``)."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field

from flask import current_app

from taskq.keys import Keys
from taskq.webhooks import WebhookStore

from taskq.keys import ApiKeys
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
    dts_queue: str
    rate_login: tuple[int, int] | None = None       # POST /api/auth/login per client IP
    metrics_token: str | None = None                # TASKQ_METRICS_TOKEN
    started: float = field(default_factory=time.time)
    last_beat: float = 0.0

    def __post_init__(self):
        self.api_keys = ApiKeys(self.keys.prefix)
        self.tasks = TaskService(self.redis, self.keys)
        self.system = SystemService(self.redis, self.keys, self.api_keys)
        self.webhooks = WebhookStore(self.redis, self.keys)

    @property
    def instance_id(self) -> str:
        # computed per call: gunicorn forks workers after the app may exist
        return f"{socket.gethostname()}-{os.getpid()}"


def state() -> AppState:
    return current_app.extensions["taskq"]
