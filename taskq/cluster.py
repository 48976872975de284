"""taskq on Redis Cluster: a ``RedisCluster`` whose pipelines carry scripts.

The engine pipelines EVALSHA calls (claims, acks, follow-ups), and redis-py's
own cluster pipeline refuses EVALSHA. Every taskq script touches one slot
(its queue's hash tag, or ``{wf}`` / ``{schedules}``), so a pipeline can be
split by node instead: :class:`SlotPipeline` queues commands like any
pipeline, and ``execute`` sends each node its share as one plain redis-py
pipeline on that node's connection, then puts the replies back in the order
the commands were queued. One round trip per node touched, as on one Redis.

- ``transaction=True`` (MULTI/EXEC) runs on one node; Redis itself refuses
  (CROSSSLOT) a transaction whose keys span slots, and one spanning nodes is
  refused here, before anything is sent.
- ``watch(*keys)`` pins the pipeline to the keys' node; from then on it is
  that node's own pipeline (immediate reads, ``multi``, ``execute``).
- Replies refused with MOVED/ASK (a slot moved since the map was read) or
  NOSCRIPT (a node that has not seen the script) were not run: the map is
  read again or the scripts loaded, and just those commands sent again.
- A connection error is raised as on one Redis (the caller's outage
  handling decides); the slot map is read again on the next call.

Commands with no key (TIME, PING in a pipeline) go to the default node.
"""

from __future__ import annotations

from typing import Any

from redis.cluster import RedisCluster
from redis.commands.core import CoreCommands
from redis.connection import Connection
from redis.exceptions import (AskError, ClusterDownError, ConnectionError, MovedError,
                              NoScriptError, RedisClusterException, TryAgainError)

from .tls import tls_kwargs

REDIRECTS = (MovedError, AskError, TryAgainError, ClusterDownError)
"""Replies that mean "not run here": safe to send again after a refresh."""
ATTEMPTS = 3
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""Cluster URL schemes and the node URL scheme redis-py is given for each."""


def node_url(url: str) -> str:
    """``url`` with a cluster scheme (``redis+cluster://``) turned into the
    node URL redis-py takes; any other URL as given."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in CLUSTER_SCHEMES:
        return f"{CLUSTER_SCHEMES[scheme.lower()]}://{rest}"
    return url


class TaskqCluster(RedisCluster):
    """A RedisCluster for the engine: its pipelines are :class:`SlotPipeline`.
    As for any RedisCluster, ``pipeline()`` without ``transaction=True`` is
    not a transaction (redis-py's own multi-key commands rely on that); the
    engine always says which it wants."""

    @classmethod
    def from_url(cls, url: str, **kwargs) -> "TaskqCluster":
        """As RedisCluster's, taking taskq's ``redis+cluster://`` URLs and
        the TASKQ_REDIS_SSL_* settings (taskq.tls) too: ``rq worker
        --connection-class taskq.cluster.TaskqCluster`` builds its client
        this way from ``--url`` / RQ_REDIS_URL."""
        url = node_url(url)
        return super().from_url(url, **{**tls_kwargs(url), **kwargs})

    @property
    def connection_pool(self) -> "NodeSettings":
        """What RQ reads from ``connection.connection_pool`` (the settings
        and class of new connections), which a RedisCluster has not: RQ's
        own Worker class, as ``rq info`` builds it, reads it."""
        return NodeSettings(self)

    def pipeline(self, transaction: bool | None = None, shard_hint: Any = None) -> "SlotPipeline":
        return SlotPipeline(self, transaction=bool(transaction))

    def node_client(self, slot: int):
        """The plain redis-py client of the primary serving ``slot``."""
        node = self.nodes_manager.get_node_from_slot(slot)
        return self.get_redis_connection(node)

    def slot_of(self, *args) -> int | None:
        """The slot a command's keys map to (None for a command with no key)."""
        try:
            return self.determine_slot(*args)
        except RedisClusterException as exc:
            if "No way to dispatch" in str(exc):
                return None
            raise


class NodeSettings:
    """A cluster's stand-in for a pool: ``connection_kwargs`` is the dict
    node clients are made with (changes reach nodes connected later),
    ``connection_class`` their connections' class."""

    def __init__(self, cluster: RedisCluster):
        self.connection_kwargs = cluster.nodes_manager.connection_kwargs
        self.connection_class = self.connection_kwargs.get("connection_class", Connection)


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


class SlotPipeline(CoreCommands):
    """A pipeline over a cluster, split per node at execute (see the module)."""

    def __init__(self, cluster: TaskqCluster, transaction: bool = True):
        self.cluster = cluster
        self.transaction = transaction
        self.command_stack: list[tuple[tuple, dict]] = []
        self._pinned = None  # the node pipeline once watch() was called

    # -- the pipeline protocol ---------------------------------------------
    def execute_command(self, *args, **options):
        if self._pinned is not None:
            return self._pinned.execute_command(*args, **options)
        self.command_stack.append((args, options))
        return self

    def __len__(self) -> int:
        return len(self.command_stack) if self._pinned is None else len(self._pinned)

    def __enter__(self) -> "SlotPipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.reset()

    def reset(self) -> None:
        if self._pinned is not None:
            self._pinned.reset()
            self._pinned = None
        self.command_stack = []

    def watch(self, *names) -> None:
        if self.command_stack:
            raise RedisClusterException("watch() must come before the queued commands")
        if self._pinned is None:
            slot = self.cluster.slot_of("WATCH", *names)
            self._pinned = self.cluster.node_client(slot).pipeline(transaction=True)
        self._pinned.watch(*names)

    def multi(self) -> None:
        if self._pinned is None:
            raise RedisClusterException("multi() without watch(): use pipeline(transaction=True)")
        self._pinned.multi()

    def unwatch(self) -> bool:
        return self._pinned.unwatch() if self._pinned is not None else True

    def execute(self, raise_on_error: bool = True) -> list:
        if self._pinned is not None:
            try:
                return self._pinned.execute(raise_on_error=raise_on_error)
            finally:
                self.reset()
        stack, self.command_stack = self.command_stack, []
        if not stack:
            return []
        replies = self._transaction(stack) if self.transaction else self._split(stack)
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies

    # -- sending -------------------------------------------------------------
    def _slots(self, stack) -> list[int | None]:
        return [self.cluster.slot_of(*args) for args, _ in stack]

    def _transaction(self, stack) -> list:
        for attempt in range(ATTEMPTS):
            slots = {s for s in self._slots(stack) if s is not None}
            nodes = {self.cluster.nodes_manager.get_node_from_slot(s).name for s in slots}
            if len(nodes) > 1:
                raise RedisClusterException(
                    f"a MULTI/EXEC spans {len(slots)} slots on {len(nodes)} nodes: "
                    "its keys must share one hash tag")
            client = self.cluster.get_redis_connection(self._node(next(iter(slots), None)))
            pipe = client.pipeline(transaction=True)
            for args, options in stack:
                pipe.execute_command(*args, **options)
            try:
                return pipe.execute(raise_on_error=False)
            except REDIRECTS:
                if attempt == ATTEMPTS - 1:
                    raise
                self.cluster.nodes_manager.initialize()
            except ConnectionError:
                self.cluster.nodes_manager.initialize()
                raise
        raise AssertionError("unreachable")

    def _split(self, stack) -> list:
        replies: list[Any] = [None] * len(stack)
        todo = list(range(len(stack)))
        slots = self._slots(stack)
        for attempt in range(ATTEMPTS):
            groups: dict[str, tuple[Any, list[int]]] = {}
            for i in todo:
                node = self._node(slots[i])
                groups.setdefault(node.name, (node, []))[1].append(i)
            again: list[int] = []
            for node, idxs in groups.values():
                client = self.cluster.get_redis_connection(node)
                for i, reply in zip(idxs, self._send(client, [stack[i] for i in idxs])):
                    replies[i] = reply
                    if isinstance(reply, REDIRECTS):
                        again.append(i)
            if not again:
                break
            if attempt < ATTEMPTS - 1:
                self.cluster.nodes_manager.initialize()
            todo = again
        return replies

    def _node(self, slot: int | None):
        if slot is None:
            return self.cluster.get_default_node()
        return self.cluster.nodes_manager.get_node_from_slot(slot)

    def _send(self, client, commands) -> list:
        """One node's share in one round trip; NOSCRIPT replies are sent
        again once the scripts are loaded on that node."""
        pipe = client.pipeline(transaction=False)
        for args, options in commands:
            pipe.execute_command(*args, **options)
        try:
            replies = pipe.execute(raise_on_error=False)
        except ConnectionError:
            self.cluster.nodes_manager.initialize()
            raise
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            sources = list(_SCRIPT_SOURCES)
            for source in sources:
                pipe.script_load(source)
            for i in missing:
                args, options = commands[i]
                pipe.execute_command(*args, **options)
            again = pipe.execute(raise_on_error=False)[len(sources):]
            for i, reply in zip(missing, again):
                replies[i] = reply
        return replies


_SCRIPT_SOURCES: list[str] = []


def know_scripts(sources) -> None:
    """The scripts a node that lost its script cache (restart, failover) must
    load again before a refused EVALSHA is sent once more. The Lua loader
    (taskq.lua) names them here when it reads them, so this module needs no
    import of it."""
    _SCRIPT_SOURCES[:] = list(sources)


def cluster_from_url(url: str, **kwargs) -> TaskqCluster:
    """A decoding TaskqCluster for a ``redis://`` / ``rediss://`` node URL."""
    kwargs.setdefault("decode_responses", True)
    return TaskqCluster.from_url(url, **kwargs)


__all__ = ["CLUSTER_SCHEMES", "SlotPipeline", "TaskqCluster", "cluster_from_url", "is_cluster",
           "know_scripts", "node_url"]
