"""Redis connections: one client per URL, and the one place a caller's
client is made fit for the engine (replies decoded to str).

The engine compares script replies, ids and hash fields with str, so it needs
a client created with ``decode_responses=True``. Users pass whatever redis-py
client they have; every public entry point that takes one passes it through
:func:`as_taskq_client` first.
"""

from __future__ import annotations

import inspect
import os
import threading
import weakref
from functools import cache
from typing import Any

import redis
from redis.client import Pipeline
from redis.cluster import ClusterPipeline, RedisCluster
from redis.connection import BlockingConnectionPool, ConnectionPool
from redis.sentinel import SentinelConnectionPool

DEFAULT_URL = "redis://127.0.0.1:6379/0"

_POOL_OWNED = ("maint_notifications_pool_handler", "oss_cluster_maint_notifications_handler")
"""Connection kwargs a pool adds for itself (they point back at that pool):
a twin pool makes its own instead of sharing the original's."""


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_URL


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def get_redis(url: str | None = None) -> redis.Redis:
    """The shared client for url (default: $REDIS_URL, else local Redis)."""
    return _client(url or redis_url())


_twins: "weakref.WeakKeyDictionary[ConnectionPool, redis.Redis]" = weakref.WeakKeyDictionary()
_twins_lock = threading.Lock()
_kinds: dict[type, str] = {}
"""Client class -> what it is, so a call does one dict lookup rather than
isinstance checks (redis-py's classes have a Protocol metaclass, whose
negative isinstance answers are slow)."""


def as_taskq_client(client: Any = None) -> Any:
    """The client the engine uses for ``client``: any redis-py client works.

    - None: the shared client for $REDIS_URL (:func:`get_redis`).
    - A ``redis.Redis`` that decodes replies: returned untouched.
    - A ``redis.Redis`` that does not (the redis-py default): a decoding twin
      on the same server with the same settings (host, port, db, password,
      SSL, unix socket, RESP3, timeouts, retry, sentinel service... all of
      its pool's connection kwargs), over its own pool since decoding is a
      per-connection setting. The twin is built once per original pool and
      kept as long as that pool lives, so a call costs a few dict lookups:
      no ping, no round trip. The caller's own client is left as it was
      (their code still sees bytes); redis-py does the decoding, as for any
      decoding client, so nothing is converted reply by reply; the twin pool
      reconnects after a fork like any pool. Not carried over: client-side
      caching, response callbacks registered on the original, and
      ``single_connection_client`` (the twin uses a pool, one more connection).
    - A ``RedisCluster``: refused with TypeError. Keys are cluster-ready
      (one hash tag per queue) but redis-py's cluster pipelines cannot carry
      scripts, and the engine pipelines them; a clear refusal up front beats
      an error in the middle of the first enqueue.
    - A pipeline or an asyncio client: refused with TypeError, since the
      engine needs each reply at once, synchronously.
    - Anything else (a wrapper, a test double): taken as is.
    """
    if client is None:
        return get_redis()
    cls = type(client)
    kind = _kinds.get(cls) or _classify(cls)
    if kind == "redis":
        pool = client.connection_pool
        if pool.connection_kwargs.get("decode_responses"):
            return client
        twin = _twins.get(pool)
        return twin if twin is not None else _make_twin(pool)
    if kind == "cluster":
        raise TypeError("taskq does not run on a RedisCluster client (its pipelines cannot "
                        "carry scripts): pass a redis.Redis client")
    if kind == "pipeline":
        raise TypeError("taskq needs a Redis client, not a pipeline: pass the client "
                        "the pipeline came from")
    if kind == "async":
        raise TypeError("taskq's Python API is synchronous: pass a redis.Redis client, "
                        "not a redis.asyncio one")
    return client


def _classify(cls: type) -> str:
    if issubclass(cls, (Pipeline, ClusterPipeline)):
        kind = "pipeline"
    elif issubclass(cls, redis.Redis):
        kind = "redis"
    elif issubclass(cls, RedisCluster):
        kind = "cluster"
    elif inspect.iscoroutinefunction(getattr(cls, "execute_command", None)):
        kind = "async"
    else:
        kind = "other"
    _kinds[cls] = kind
    return kind


def _make_twin(pool: ConnectionPool) -> redis.Redis:
    with _twins_lock:
        twin = _twins.get(pool)
        if twin is None:
            twin = _twins[pool] = redis.Redis(connection_pool=_decoding_pool(pool))
        return twin


def _decoding_pool(pool: ConnectionPool) -> ConnectionPool:
    """A pool like ``pool`` (same class of pool and connection, same limits
    and connection kwargs) whose connections decode replies."""
    kwargs = {k: v for k, v in pool.connection_kwargs.items() if k not in _POOL_OWNED}
    kwargs.update(decode_responses=True, connection_class=pool.connection_class,
                  max_connections=pool.max_connections)
    if isinstance(pool, SentinelConnectionPool):
        kwargs.pop("connection_pool", None)  # the original's proxy; the twin makes its own
        return SentinelConnectionPool(pool.service_name, pool.sentinel_manager,
                                      is_master=pool.is_master,
                                      check_connection=pool.check_connection, **kwargs)
    if isinstance(pool, BlockingConnectionPool):
        return BlockingConnectionPool(timeout=pool.timeout, queue_class=pool.queue_class, **kwargs)
    return ConnectionPool(**kwargs)


__all__ = ["DEFAULT_URL", "as_taskq_client", "get_redis", "redis_url"]
