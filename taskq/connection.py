"""Redis connections: one client per URL, decoding replies to str."""

from __future__ import annotations

import os
from functools import cache

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_URL


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def get_redis(url: str | None = None) -> redis.Redis:
    """The shared client for url (default: $REDIS_URL, else local Redis)."""
    return _client(url or redis_url())
