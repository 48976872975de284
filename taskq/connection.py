"""Redis connections: one client per URL, and the one place a caller's
client is made fit for the engine (replies decoded to str).

A URL names a Redis Cluster when its scheme is ``redis+cluster://`` or
``rediss+cluster://`` (any node's address; the others are discovered), or
when ``TASKQ_REDIS_CLUSTER=1`` is set beside a plain ``redis://`` URL. Every
process (producers, both worker kinds, the scheduler, the web process, the
CLIs) gets its client from :func:`client_from_url`, so that is the one place
a cluster is recognised.

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
from redis.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.connection import BlockingConnectionPool, ConnectionPool
from redis.sentinel import SentinelConnectionPool

from .cluster import CLUSTER_SCHEMES, SlotPipeline, TaskqCluster, node_url
from .tls import tls_kwargs

DEFAULT_URL = "redis://127.0.0.1:6379/0"

CLUSTER_SETTING = "TASKQ_REDIS_CLUSTER"

_POOL_OWNED = ("maint_notifications_pool_handler", "oss_cluster_maint_notifications_handler")
"""Connection kwargs a pool adds for itself (they point back at that pool):
a twin pool makes its own instead of sharing the original's."""


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_URL


def cluster_node_url(url: str) -> str | None:
    """The node URL to give RedisCluster when ``url`` names a cluster, else None."""
    scheme = url.partition("://")[0].lower()
    if scheme in CLUSTER_SCHEMES:
        return node_url(url)
    if os.environ.get(CLUSTER_SETTING, "").strip().lower() in ("1", "true", "yes", "on"):
        return url
    return None


def client_from_url(url: str, **kwargs: Any) -> Any:
    """A new decoding client for ``url``: a :class:`taskq.cluster.TaskqCluster`
    when the URL (or TASKQ_REDIS_CLUSTER) names a cluster, else ``redis.Redis``.
    ``kwargs`` are connection settings (timeouts, ...) for either. A TLS URL
    gets the TASKQ_REDIS_SSL_* settings (taskq.tls; TlsSettingError, a
    ValueError, for one redis-py would refuse at the first command)."""
    kwargs = {**tls_kwargs(url), **kwargs}
    kwargs.setdefault("decode_responses", True)
    node_url = cluster_node_url(url)
    if node_url is not None:
        return TaskqCluster.from_url(node_url, **kwargs)
    return redis.Redis.from_url(url, **kwargs)


@cache
def _client(url: str) -> redis.Redis:
    return client_from_url(url)


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
    - A ``TaskqCluster`` that decodes replies: returned untouched.
    - Any other ``RedisCluster``: a decoding ``TaskqCluster`` twin on the same
      startup nodes with the same connection settings, built once per
      original (redis-py's own cluster pipelines refuse scripts, which the
      engine pipelines; see taskq.cluster).
    - A pipeline or an asyncio client: refused with TypeError, since the
      engine needs each reply at once, synchronously (taskq.aio takes
      asyncio clients).
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
        if client.encoder.decode_responses and isinstance(client, TaskqCluster):
            return client
        twin = _cluster_twins.get(client)
        return twin if twin is not None else _make_cluster_twin(client)
    if kind == "pipeline":
        raise TypeError("taskq needs a Redis client, not a pipeline: pass the client "
                        "the pipeline came from")
    if kind == "async":
        raise TypeError("taskq.Queue is synchronous: pass it a redis.Redis client; for a "
                        "redis.asyncio client use taskq.aio.Queue")
    return client


def _classify(cls: type) -> str:
    if issubclass(cls, (Pipeline, ClusterPipeline, SlotPipeline)):
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
            twin = _twins[pool] = redis.Redis(connection_pool=pool_like(pool))
        return twin


_cluster_twins: "weakref.WeakKeyDictionary[RedisCluster, Any]" = weakref.WeakKeyDictionary()


def _make_cluster_twin(cluster: RedisCluster) -> Any:
    with _twins_lock:
        twin = _cluster_twins.get(cluster)
        if twin is None:
            manager = cluster.nodes_manager
            kwargs = {k: v for k, v in manager.connection_kwargs.items()
                      if k not in _POOL_OWNED and k != "redis_connect_func"}
            kwargs["decode_responses"] = True
            nodes = [ClusterNode(n.host, n.port) for n in manager.startup_nodes.values()]
            twin = _cluster_twins[cluster] = TaskqCluster(startup_nodes=nodes, **kwargs)
        return twin


def pool_like(pool: ConnectionPool, decode: bool = True) -> ConnectionPool:
    """A new pool like ``pool`` (same class of pool and connection, same
    limits and connection kwargs) whose connections decode replies
    (``decode=False``: do not, for a caller that reads bytes such as RQ's
    pickles)."""
    kwargs = {k: v for k, v in pool.connection_kwargs.items() if k not in _POOL_OWNED}
    kwargs.update(decode_responses=decode, connection_class=pool.connection_class,
                  max_connections=pool.max_connections)
    if isinstance(pool, SentinelConnectionPool):
        kwargs.pop("connection_pool", None)  # the original's proxy; the twin makes its own
        return SentinelConnectionPool(pool.service_name, pool.sentinel_manager,
                                      is_master=pool.is_master,
                                      check_connection=pool.check_connection, **kwargs)
    if isinstance(pool, BlockingConnectionPool):
        return BlockingConnectionPool(timeout=pool.timeout, queue_class=pool.queue_class, **kwargs)
    return ConnectionPool(**kwargs)


__all__ = ["DEFAULT_URL", "as_taskq_client", "client_from_url", "cluster_node_url", "get_redis",
           "pool_like", "redis_url"]
