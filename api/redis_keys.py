"""Key names the HTTP layer keeps in Redis, built here only (the engine's
keys live in taskq.keys). All share the deployment's key prefix."""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def instance_started(self) -> str:
        """Hash: API process id -> epoch seconds it started (uptime)."""
        return f"{self.prefix}:api:started"

    def rate(self, identity: str, window: int) -> str:
        """Counter of one identity's requests in one fixed window."""
        return f"{self.prefix}:api:rate:{identity}:{window}"
