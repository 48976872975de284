"""Process plumbing the taskq RQ worker classes share: the taskq Redis
client beside RQ's connection, the lease setting, and signal handling for
a worker, its helper threads and its horses."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import select
import signal

import redis

from taskq.cluster import is_cluster
from taskq.connection import as_taskq_client
from taskq.lease import WORKER_LEASE
from taskq.local.parent_death import signal_on_parent_death


def env_lease() -> float:
    """TASKQ_LEASE, else WORKER_LEASE: short, as the worker renews it."""
    return float(os.environ.get("TASKQ_LEASE") or WORKER_LEASE)


def new_connection_kwargs(client) -> dict:
    """The settings redis-py gives the client's next connections, as a dict
    to change in place: its pool's for one Redis; for a Redis Cluster, the
    ones every node client is made with (node clients made already keep
    theirs)."""
    if is_cluster(client):
        return client.nodes_manager.connection_kwargs
    return client.connection_pool.connection_kwargs


def taskq_client(connection):
    """A client to the same server (or cluster) as RQ's connection, decoding
    replies to str (the engine compares script replies with str); its own
    pool, so a forked horse reconnects on first use."""
    if is_cluster(connection):
        client = as_taskq_client(connection)  # a decoding TaskqCluster twin
    else:
        pool = connection.connection_pool
        kwargs = dict(pool.connection_kwargs, decode_responses=True)
        client = redis.Redis(connection_pool=redis.ConnectionPool(
            connection_class=pool.connection_class, **kwargs))
    pin_driver_info(client)
    return client


class ClusterConnection:
    """Lets RQ's worker machinery take a Redis Cluster client
    (``rq worker --connection-class taskq.cluster.TaskqCluster``)."""

    def _set_connection(self, connection):
        """RQ's own version reads ``connection.connection_pool``, which a
        Redis Cluster client has not: there the longer socket timeout RQ's
        blocking calls need goes to every node's connections."""
        if not is_cluster(connection):
            return super()._set_connection(connection)
        kwargs = [new_connection_kwargs(connection)]
        kwargs += [node.redis_connection.connection_pool.connection_kwargs
                   for node in connection.get_nodes() if node.redis_connection is not None]
        for each in kwargs:
            current = each.get("socket_timeout")
            if current is None or current < self.connection_timeout:
                each["socket_timeout"] = self.connection_timeout
        return connection


def pin_driver_info(client: redis.Redis) -> None:
    """Resolve redis-py's client name and version once for this pool: left
    unset, every new connection reads the package metadata from disk (a few
    ms), and a horse opens its connections anew for every task."""
    try:
        from redis.driver_info import resolve_driver_info
    except ImportError:  # older redis-py: nothing resolved per connection
        return
    kwargs = new_connection_kwargs(client)
    if "driver_info" not in kwargs and "lib_name" not in kwargs and "lib_version" not in kwargs:
        kwargs["driver_info"] = resolve_driver_info()


def lighten_connections(*clients: redis.Redis) -> None:
    """For a horse, whose connections live for one task: skip the
    handshake extras redis-py sends on every new connection (CLIENT SETINFO
    twice, the maintenance-notification handshake), three round trips each
    that buy nothing on a connection closed a few milliseconds later."""
    try:
        from redis.maint_notifications import MaintNotificationsConfig
    except ImportError:
        MaintNotificationsConfig = None
    # redis-py 7 names the client with driver_info; older ones take lib_name/lib_version
    if importlib.util.find_spec("redis.driver_info") is not None:
        no_setinfo = {"driver_info": None}
    else:
        no_setinfo = {"lib_name": None, "lib_version": None}
    for client in clients:
        kwargs = new_connection_kwargs(client)
        for key in ("driver_info", "lib_name", "lib_version"):
            kwargs.pop(key, None)
        kwargs.update(no_setinfo)  # no CLIENT SETINFO
        if MaintNotificationsConfig is not None and "maint_notifications_config" in kwargs:
            kwargs["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)


def exits_within(pid: int, seconds: float) -> bool:
    """Whether child ``pid`` exits within ``seconds`` (not reaped: the
    caller's wait does that). Without pidfds (not Linux): False at once."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return False
    try:
        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


def ignore_signal(signum, frame) -> None:
    """A handler that does nothing (unlike SIG_IGN, it does not survive exec)."""


_MAIN_THREAD_SIGNALS = {signal.SIGALRM, signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def signals_to_main_thread():
    """Start helper threads inside this block: they inherit a mask that
    blocks the signals RQ handles, so the kernel delivers those to the main
    thread, whose blocking call (the parent's wait for its horse) they must
    interrupt. A SIGALRM taken by RQ's pub/sub thread instead (as after a
    SIGSTOP/SIGCONT) would leave the parent in wait4 until the horse exits,
    its lease unrenewed."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _MAIN_THREAD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


COMMAND_POLL = 1.0
"""Seconds the thread reading the worker's command channel waits per read.
RQ's 60 made a stopping worker wait up to a minute: redis-py 8's thread
``stop()`` joins the thread, which waits out a whole read when the reply to
RQ's UNSUBSCRIBE reached it before the stop did (a race, seen on loopback)."""


def subscribe_to_commands(worker) -> None:
    """RQ's ``Worker.subscribe`` (``rq`` worker commands over pub/sub),
    its thread started with the signals left to the main thread
    (:func:`signals_to_main_thread`) and reading for COMMAND_POLL seconds
    at a time."""
    worker.log.info("Worker %s: subscribing to channel %s", worker.name, worker.pubsub_channel_name)
    worker.pubsub = worker.connection.pubsub()
    worker.pubsub.subscribe(**{worker.pubsub_channel_name: worker.handle_payload})
    with signals_to_main_thread():
        worker.pubsub_thread = worker.pubsub.run_in_thread(
            sleep_time=COMMAND_POLL, daemon=True,
            exception_handler=worker._pubsub_exception_handler)


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this horse when its parent dies: a horse
    orphaned by a SIGKILLed worker would run on unleased while its task runs
    again elsewhere."""
    signal_on_parent_death(signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
