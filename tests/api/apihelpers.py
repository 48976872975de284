"""Credentials and example bodies shared by the API tests."""

from __future__ import annotations

from api.auth import mint_token

SECRET = "test-secret-0123456789abcdef0123456789"


def bearer(*scopes, sub="tester", ttl=86400, **kw) -> dict:
    # A day: modules mint tokens at import, and a loaded machine can take
    # more than ten minutes to reach their tests (tests of expiry pass ttl).
    return {"Authorization": f"Bearer {mint_token(SECRET, sub, scopes, ttl, **kw)}"}


EXAMPLE_TASK = {
    "name": "Example Task",
    "description": "This is an example task",
    "command": "echo 'Hello World'",
    "priority": 5,
    "max_retries": 3,
    "scheduled_at": "2023-06-15T12:00:00Z",
    "timeout_seconds": 3600,
    "tags": ["example", "demo"],
    "checkpoint_enabled": True,
}
"""The document's create example (its dependencies must exist here, so tests add them)."""
