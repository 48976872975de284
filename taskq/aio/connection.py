"""asyncio clients for taskq.aio: the one place a caller's ``redis.asyncio``
client is made fit for the engine (replies decoded to str), and where the
default client lives (one per event loop: redis.asyncio connections belong
to the loop that opened them).

- None: this event loop's client for $REDIS_URL (a ``redis+cluster://`` URL
  or TASKQ_REDIS_CLUSTER=1 gives a ``redis.asyncio.cluster.RedisCluster``).
- A ``redis.asyncio.Redis`` or ``RedisCluster`` that decodes: as it is.
- One that does not (the redis-py default): a decoding twin with the same
  connection settings, made once per original and kept while it lives.
- A synchronous client: TypeError (use ``taskq.Queue``).

:func:`sync_twin` gives the synchronous client with the same settings, for
the few rare paths taskq.aio runs through the synchronous engine in a
thread (cross-queue dependency links, workflow follow-ups, publish).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import ClusterPipeline as AsyncClusterPipeline
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import ClusterNode, RedisCluster

from ..cluster import TaskqCluster
from ..connection import _POOL_OWNED, client_from_url, cluster_node_url, redis_url
from ..tls import tls_kwargs

_LOCAL = _POOL_OWNED + ("himport_registry", "redis_connect_func")
"""Connection kwargs a pool or client makes for itself: a twin makes its own."""

DEFAULT_MAX_CONNECTIONS = 100
"""Connections of a client :func:`async_client_from_url` makes, at most."""
CLUSTER_MAX_CONNECTIONS = 1000
"""Connections per node of a cluster client it makes, at most."""

_lock = threading.Lock()
_defaults: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = weakref.WeakKeyDictionary()
_twins: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()
_sync_twins: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def async_client_from_url(url: str, **kwargs: Any) -> Any:
    """A new decoding asyncio client for ``url`` (a cluster when the URL says so).

    On one Redis its pool is a ``BlockingConnectionPool`` (``max_connections``,
    default 100; ``timeout``, default 20 s): a coroutine that finds every
    connection busy waits for one, where redis-py's default pool raises
    MaxConnectionsError, so a burst of concurrent calls (``asyncio.gather``
    of a thousand enqueues) queues up instead of failing. redis-py's asyncio
    RedisCluster has no such pool: past ``max_connections`` commands in
    flight to one node it raises MaxConnectionsError, so a cluster client
    made here allows CLUSTER_MAX_CONNECTIONS per node (redis-py's default is
    100) and opens them only as a burst needs them."""
    kwargs = {**tls_kwargs(url), **kwargs}
    kwargs.setdefault("decode_responses", True)
    node = cluster_node_url(url)
    if node is not None:
        kwargs.setdefault("max_connections", CLUSTER_MAX_CONNECTIONS)
        return AsyncRedisCluster.from_url(node, **kwargs)
    kwargs.setdefault("max_connections", DEFAULT_MAX_CONNECTIONS)
    return aredis.Redis.from_pool(aredis.BlockingConnectionPool.from_url(url, **kwargs))


def as_async_client(client: Any = None) -> Any:
    """The client taskq.aio uses for ``client`` (see the module docstring)."""
    if client is None:
        loop = asyncio.get_running_loop()
        found = _defaults.get(loop)
        if found is None:
            found = _defaults[loop] = async_client_from_url(redis_url())
        return found
    if isinstance(client, (redis.Redis, RedisCluster)):
        raise TypeError("taskq.aio needs a redis.asyncio client; for a redis.Redis client "
                        "use taskq.Queue")
    if isinstance(client, (aredis.client.Pipeline, AsyncClusterPipeline)):  # a Pipeline is a Redis
        raise TypeError("taskq.aio needs a client, not a pipeline")
    if isinstance(client, aredis.Redis):
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            return client
        return _twin(client, _decoding_twin)
    if isinstance(client, AsyncRedisCluster):
        if client.get_encoder().decode_responses:
            return client
        return _twin(client, _decoding_cluster_twin)
    return client


def _twin(client: Any, make) -> Any:
    with _lock:
        twin = _twins.get(client)
        if twin is None:
            twin = _twins[client] = make(client)
        return twin


def _kwargs(source: dict) -> dict:
    return {k: v for k, v in source.items() if k not in _LOCAL}


def _decoding_twin(client: aredis.Redis) -> aredis.Redis:
    pool = client.connection_pool
    kwargs = _kwargs(pool.connection_kwargs)
    kwargs.update(decode_responses=True, connection_class=pool.connection_class,
                  max_connections=pool.max_connections)
    if isinstance(pool, aredis.BlockingConnectionPool):
        kwargs["timeout"] = pool.timeout  # the caller's wait for a free connection
    return aredis.Redis(connection_pool=type(pool)(**kwargs))


def _cluster_kwargs(client: AsyncRedisCluster) -> tuple[list[tuple[str, int]], dict]:
    nodes = [(n.host, n.port) for n in client.nodes_manager.startup_nodes.values()]
    kwargs = _kwargs(client.nodes_manager.connection_kwargs)
    kwargs.pop("connection_class", None)
    kwargs.pop("response_callbacks", None)  # the client's own (RedisCluster() refuses it)
    return nodes, kwargs


def _decoding_cluster_twin(client: AsyncRedisCluster) -> AsyncRedisCluster:
    nodes, kwargs = _cluster_kwargs(client)
    kwargs["decode_responses"] = True
    return AsyncRedisCluster(startup_nodes=[AsyncClusterNode(h, p) for h, p in nodes], **kwargs)


_SYNC_CONNECTIONS = {
    aredis.connection.Connection: redis.connection.Connection,
    aredis.connection.SSLConnection: redis.connection.SSLConnection,
    aredis.connection.UnixDomainSocketConnection: redis.connection.UnixDomainSocketConnection,
}


def sync_twin(client: Any) -> Any:
    """A synchronous decoding client with ``client``'s connection settings
    (made once per client), or the $REDIS_URL one for a default client."""
    with _lock:
        twin = _sync_twins.get(client)
        if twin is None:
            twin = _sync_twins[client] = _make_sync_twin(client)
        return twin


def _make_sync_twin(client: Any) -> Any:
    if isinstance(client, AsyncRedisCluster):
        nodes, kwargs = _cluster_kwargs(client)
        kwargs.pop("ssl_context", None)
        kwargs["decode_responses"] = True
        return TaskqCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes], **kwargs)
    if isinstance(client, aredis.Redis):
        pool = client.connection_pool
        cls = _SYNC_CONNECTIONS.get(pool.connection_class)
        if cls is None:
            raise TypeError(f"taskq.aio: no synchronous twin for {pool.connection_class.__name__}")
        kwargs = _kwargs(pool.connection_kwargs)
        kwargs.update(decode_responses=True, connection_class=cls)
        return redis.Redis(connection_pool=redis.ConnectionPool(**kwargs))
    return client_from_url(redis_url())


__all__ = ["as_async_client", "async_client_from_url", "sync_twin"]
