"""Clients of the kind the test Redis URL names (one Redis or a cluster),
for tests that make their own rather than use the ``r`` fixture."""

from __future__ import annotations

import os
import uuid

import redis

from taskq.connection import client_from_url, cluster_node_url

__all__ = ["child_env", "client_from_url", "fresh_prefix", "plain_client"]


KEPT = ("RQ_CONNECTION_CLASS", "TASKQ_STATE_DIR")


def child_env(**extra: str) -> dict:
    """The environment for a worker process a test starts: this one's without
    its TASKQ_/RQ_ settings (the test gives its own in ``extra``), but keeping
    RQ_CONNECTION_CLASS, which lets `rq` reach the test Redis on a cluster,
    and TASKQ_STATE_DIR, which keeps the child away from a developer's
    ``.taskq/`` (tests/conftest.py)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TASKQ_", "RQ_")) or k in KEPT}
    env.update(extra)
    return env


def plain_client(url: str, **kwargs):
    """A client that does not decode replies (the redis-py default), of the
    kind ``url`` names: redis.Redis, or a plain RedisCluster."""
    node_url = cluster_node_url(url)
    if node_url is not None:
        return redis.RedisCluster.from_url(node_url, **kwargs)
    return redis.Redis.from_url(url, **kwargs)


def fresh_prefix(client, head: str = "tqtest"):
    """Yield a new key prefix, then delete every key under it (a fixture body)."""
    p = f"{head}-{uuid.uuid4().hex[:10]}"
    yield p
    keys = list(client.scan_iter(match=f"{p}:*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i:i + 500])
