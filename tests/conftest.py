"""Shared fixtures: a real Redis (TASKQ_TEST_REDIS_URL, set by scripts/test),
and a fresh key prefix per test so tests never collide and clean up after
themselves without flushing a server they do not own."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter

import pytest
import redis
from redis.client import Pipeline

from taskq import Keys, Queue

REDIS_URL = os.environ.get("TASKQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture
def r(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"no Redis at {redis_url}: run the tests with scripts/test")
    yield client
    client.close()


@pytest.fixture
def prefix(r):
    p = f"tqtest-{uuid.uuid4().hex[:10]}"
    yield p
    keys = list(r.scan_iter(match=f"{p}:*", count=1000))
    for i in range(0, len(keys), 500):
        r.delete(*keys[i:i + 500])


@pytest.fixture
def keys(prefix) -> Keys:
    return Keys(prefix)


@pytest.fixture
def make_queue(r, prefix):
    def make(name: str = "default") -> Queue:
        return Queue(name, redis=r, prefix=prefix)
    return make


@pytest.fixture
def q(make_queue) -> Queue:
    return make_queue("default")


def _wait_for(pred, timeout: float = 15.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(every)
    return False


@pytest.fixture
def wait_for():
    """wait_for(pred, timeout=15): poll until pred() is true; False on timeout."""
    return _wait_for


@pytest.fixture
def counted(redis_url, monkeypatch):
    """A client of its own that counts every command it sends, pipelined or not."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    counts: Counter = Counter()
    send = client.execute_command

    def execute_command(*args, **options):
        counts[str(args[0]).upper()] += 1
        if str(args[0]).upper() == "LRANGE":
            counts["lines asked"] += int(args[3]) - int(args[2]) + 1
        return send(*args, **options)

    client.execute_command = execute_command
    pool, run = client.connection_pool, Pipeline.execute

    def execute(self, raise_on_error=True):
        if self.connection_pool is pool:
            counts.update(str(args[0]).upper() for args, _ in self.command_stack)
        return run(self, raise_on_error)

    monkeypatch.setattr(Pipeline, "execute", execute)
    client.counts = counts
    yield client
    client.close()
