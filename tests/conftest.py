"""Shared fixtures: a real Redis (TASKQ_TEST_REDIS_URL, set by scripts/test),
and a fresh key prefix per test so tests never collide and clean up after
themselves without flushing a server they do not own.

TASKQ_TEST_CLUSTER=1 runs the same tests on a Redis Cluster: the one named
by TASKQ_TEST_REDIS_URL when it is a ``redis+cluster://`` URL, else a local
3-master cluster started for the session (taskq.local.cluster). ``r`` is then
a TaskqCluster; tests about one plain Redis are marked ``single_redis`` and
skipped. The `rq` commands tests start reach the cluster through
RQ_CONNECTION_CLASS=taskq.cluster.TaskqCluster, as a user's would."""

from __future__ import annotations

import os
from collections import Counter

import pytest
import redis
from redis.client import Pipeline

from taskq import Keys, Queue
from taskq.connection import client_from_url, cluster_node_url

from polling import poll
from redis_clients import fresh_prefix, plain_client

REDIS_URL = os.environ.get("TASKQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ON_CLUSTER = os.environ.get("TASKQ_TEST_CLUSTER", "") == "1"


def _isolate_from_local_state() -> None:
    """Point every taskq command of the run, in process or child, away from a
    developer's own state: ``.taskq/redis.url`` of a ``taskq start`` running
    in this folder would otherwise send a CLI call without ``--url`` to that
    Redis, and an unset REDIS_URL falls back to 127.0.0.1:6379, which may not
    be the Redis the run chose. Tests about those fallbacks set their own."""
    import tempfile

    os.environ["TASKQ_STATE_DIR"] = tempfile.mkdtemp(prefix="taskq-test-state-")
    os.environ["REDIS_URL"] = REDIS_URL


def pytest_unconfigure(config):
    import shutil

    shutil.rmtree(os.environ.get("TASKQ_STATE_DIR", ""), ignore_errors=True)


def pytest_configure(config):
    _isolate_from_local_state()
    config.addinivalue_line("markers", "single_redis: about one plain Redis server; "
                                       "skipped when TASKQ_TEST_CLUSTER=1")


def pytest_collection_modifyitems(config, items):
    if ON_CLUSTER:
        skip = pytest.mark.skip(reason="about one plain Redis (TASKQ_TEST_CLUSTER=1)")
        for item in items:
            if "single_redis" in item.keywords:
                item.add_marker(skip)


RQ_CLUSTER_CLASS = "taskq.cluster.TaskqCluster"
"""What ``rq`` is told (RQ_CONNECTION_CLASS) to reach a cluster with."""


@pytest.fixture(scope="session")
def redis_url() -> str:
    global REDIS_URL
    if ON_CLUSTER:  # every `rq` command a test starts reaches the cluster
        os.environ["RQ_CONNECTION_CLASS"] = RQ_CLUSTER_CLASS
    if ON_CLUSTER and cluster_node_url(REDIS_URL) is None:
        from taskq.local.cluster import LocalCluster

        with LocalCluster() as cluster:
            REDIS_URL = cluster.url
            os.environ["TASKQ_TEST_REDIS_URL"] = cluster.url
            yield cluster.url
        return
    yield REDIS_URL


@pytest.fixture
def r(redis_url):
    client = client_from_url(redis_url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"no Redis at {redis_url}: run the tests with scripts/test")
    yield client
    client.close()


@pytest.fixture
def raw(redis_url):
    """A client as RQ uses it (bytes: RQ's job hashes hold pickles)."""
    client = plain_client(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(r):
    yield from fresh_prefix(r)


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
    return bool(poll(pred, timeout, every))


@pytest.fixture
def wait_for():
    """wait_for(pred, timeout=15): poll until pred() is true; False on timeout."""
    return _wait_for


@pytest.fixture
def counted(redis_url, monkeypatch):
    """A client of its own that counts every command it sends, pipelined or not
    (one plain Redis client: the cost tests using it are skipped on a cluster)."""
    if ON_CLUSTER:
        pytest.skip("counts the commands of one plain Redis client")
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
