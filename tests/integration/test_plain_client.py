"""The Python API works with whatever redis-py client the caller has: the
redis-py default (replies as bytes), a decoding one, one over a pool the
caller built, RESP3, a unix socket, a password-protected user, a plain
RedisCluster. About one plain Redis: skipped on a cluster run."""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
import weakref

import pytest
import redis
from redis.cluster import RedisCluster

import taskq
from taskq import InvalidState, Keys, LeaseLost, Queue, claim, complete_many, get_task, maintenance
from taskq.connection import _twins, as_taskq_client
from taskq.lease import complete_and_claim
from taskq.projects.store import ProjectStore
from taskq.projects.task_types import TaskTypeStore
from taskq.webhooks.store import WebhookStore
from taskq.worker_registry import WorkerRegistry

pytestmark = pytest.mark.single_redis

CLIENTS = {
    "plain": lambda url: redis.Redis.from_url(url),
    "decoding": lambda url: redis.Redis.from_url(url, decode_responses=True),
    "own_pool": lambda url: redis.Redis(connection_pool=redis.ConnectionPool.from_url(url)),
    "blocking_pool": lambda url: redis.Redis(
        connection_pool=redis.BlockingConnectionPool.from_url(url, max_connections=4)),
    "resp3": lambda url: redis.Redis.from_url(url, protocol=3),
}


@pytest.fixture(params=sorted(CLIENTS))
def client(request, redis_url):
    c = CLIENTS[request.param](redis_url)
    yield c
    c.close()


@pytest.fixture
def queue(client, prefix):
    return Queue("plain", redis=client, prefix=prefix)


def test_producer_api(client, queue, prefix):
    t = queue.enqueue("m:f", 1, x="é", tags=["t"], meta={"big": 12345678901234567, "l": []})
    assert isinstance(t.id, str) and t.id.startswith("plain:")
    got = queue.get(t.id)
    assert got.status == "queued" and got.args == [1] and got.kwargs == {"x": "é"}
    assert got.meta == {"big": 12345678901234567, "l": []}
    assert get_task(t.id, redis=client, prefix=prefix).id == t.id
    assert taskq.get_task(t.id, redis=client, prefix=prefix).status == "queued"
    assert [x.id for x in queue.list(status="queued")] == [t.id]
    assert queue.list_ids(tag="t") == [t.id]
    assert queue.count("queued") == 1 and queue.counts()["queued"] == 1
    assert queue.get_many([t.id])[0].id == t.id
    assert queue.update(t.id, priority=9) == "queued" and queue.get(t.id).priority == 9
    assert queue.stats()["created"] == 1

    queue.pause()
    assert queue.is_paused
    queue.resume()
    assert not queue.is_paused

    assert queue.cancel(t.id) == "cancelled"
    assert queue.get(t.id).status == "cancelled"
    assert queue.retry(t.id) == "queued"
    queue.delete(t.id)
    assert queue.get(t.id) is None

    many = queue.enqueue_many([{"func": "m:f", "task_id": "a"},
                               {"func": "m:f", "depends_on": ["plain:a"]}])
    assert [x.status for x in many] == ["queued", "blocked"]


def test_lease_api(client, queue, prefix):
    keys = Keys(prefix)
    t = queue.enqueue("m:f", max_retries=1, backoff="fixed", backoff_base=0)
    [lease] = claim(client, keys, ["plain"], lease=5)
    assert lease.id == t.id and isinstance(lease.token, str)
    assert lease.heartbeat() is False
    assert lease.extend(10) > lease.task.created_at
    lease.checkpoint({"row": 3})
    lease.log("hello", "warn")
    assert queue.logs(t.id)[0]["message"] == "hello" and queue.log_count(t.id) == 1
    assert queue.get(t.id).checkpoint == {"row": 3}
    assert lease.fail("boom") == "retrying"

    queue.reap()
    [again] = queue.claim(1)
    assert again.task.checkpoint == {"row": 3} and again.task.attempts == 2
    assert again.complete({"n": [1, 2]}) is True
    assert again.complete({"n": [1, 2]}) is False  # a duplicate complete is harmless
    done = queue.get(t.id)
    assert done.status == "completed" and done.result == {"n": [1, 2]}

    with pytest.raises(LeaseLost):
        lease.heartbeat()
    with pytest.raises(InvalidState):
        queue.update(t.id, priority=1)


def test_complete_many_release_cancel_and_final_failure(client, queue, prefix):
    keys = Keys(prefix)
    ids = [queue.enqueue("m:f", i, max_retries=0).id for i in range(5)]
    leases = claim(client, keys, ["plain"], n=5)
    assert sorted(x.id for x in leases) == sorted(ids)
    assert complete_many(client, [(leases[0], "r0"), (leases[1], "r1")]) == [True, True]
    assert queue.get(leases[1].id).result == "r1"
    done, more = complete_and_claim(client, keys, [(leases[2], 2)], ["plain"], 1)
    assert done == [True] and more == []
    assert leases[3].release() == "queued"
    assert leases[4].fail("bad", retryable=False) == "failed"
    assert queue.get(leases[4].id).error == "bad"

    [held] = queue.claim(1)
    assert queue.cancel(held.id) == "cancel_requested"
    assert held.heartbeat() is True
    assert held.cancelled() == "cancelled"


def test_dependencies_across_queues(client, prefix):
    a = Queue("first", redis=client, prefix=prefix)
    b = Queue("second", redis=client, prefix=prefix)
    up = a.enqueue("m:f")
    down = b.enqueue("m:f", depends_on=[up])
    assert down.status == "blocked"
    [lease] = a.claim(1)
    lease.complete("up")
    assert b.get(down.id).status == "queued"
    assert maintenance.tick(client, Keys(prefix))["delivered"] == 0


def test_maintenance_reaps_with_a_plain_client(client, queue, prefix):
    t = queue.enqueue("m:f")
    queue.claim(1, lease=0.05)
    time.sleep(0.1)
    assert maintenance.tick(client, Keys(prefix))["requeued"] == 1
    assert queue.get(t.id).status == "queued"
    assert "plain" in maintenance.queue_names(client, Keys(prefix))


def test_stores_take_any_client(client, prefix):
    keys = Keys(prefix)
    workers = WorkerRegistry(client, keys)
    workers.register("w1", ["plain"])
    assert workers.get("w1").queues == ["plain"] and [w.id for w in workers.all()] == ["w1"]

    projects = ProjectStore(client, prefix)
    p = projects.create("proj-" + uuid.uuid4().hex[:6])
    assert projects.get(p.id).name == p.name
    types = TaskTypeStore(client, prefix)
    tt = types.create(p.id, "kind")
    assert types.get(tt.id).name == "kind" and [x.id for x in types.list(p.id)] == [tt.id]

    hooks = WebhookStore(client, keys)
    rec = hooks.create("https://example.com/hook", ["task.completed"])
    assert hooks.get(rec["id"])["url"] == "https://example.com/hook"


def test_twin_is_built_once_per_pool_and_shares_the_settings(redis_url):
    plain = redis.Redis.from_url(redis_url, socket_timeout=7, client_name="mine")
    twin = as_taskq_client(plain)
    assert twin is not plain and as_taskq_client(plain) is twin
    assert Queue("x", redis=plain).redis is twin
    kw = twin.connection_pool.connection_kwargs
    assert kw["decode_responses"] is True and kw["socket_timeout"] == 7
    assert twin.client_getname() == "mine"
    other = redis.Redis.from_url(redis_url)
    assert as_taskq_client(other) is not twin

    decoding = redis.Redis.from_url(redis_url, decode_responses=True)
    assert as_taskq_client(decoding) is decoding


def test_twin_goes_with_its_pool(redis_url):
    plain = redis.Redis.from_url(redis_url)
    twin = as_taskq_client(plain)
    twin.ping()
    pool, twin = weakref.ref(plain.connection_pool), weakref.ref(twin)
    assert plain.connection_pool in _twins
    del plain
    gc.collect()
    assert pool() is None and twin() is None


def test_password_protected_user(redis_url, r, prefix):
    user, password = "tq-" + uuid.uuid4().hex[:8], uuid.uuid4().hex
    r.acl_setuser(user, enabled=True, passwords=["+" + password], keys=["*"], commands=["+@all"])
    try:
        plain = redis.Redis.from_url(redis_url, username=user, password=password)
        q = Queue("auth", redis=plain, prefix=prefix)
        t = q.enqueue("m:f")
        assert q.get(t.id).status == "queued"
        assert as_taskq_client(plain).acl_whoami() == user
    finally:
        r.acl_deluser(user)


@contextlib.contextmanager
def spawned_redis(*args: str):
    """A throwaway redis-server (the embedded binary) in a temporary dir."""
    from taskq.local.embedded import redis_server_path
    work = tempfile.mkdtemp(prefix="tq-srv-")
    proc = subprocess.Popen([redis_server_path(), "--save", "", "--appendonly", "no",
                             "--dir", work, *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield work
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def _until(pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except (OSError, redis.RedisError):
            pass
        time.sleep(0.02)
    raise AssertionError("spawned redis-server did not come up")


@pytest.fixture
def unix_socket_url():
    sock = "redis.sock"
    with spawned_redis("--port", "0", "--unixsocket", sock) as work:
        path = os.path.join(work, sock)
        _until(lambda: _answers(path))  # the file exists from bind(), connections from listen()
        yield f"unix://{path}?db=3"


def _answers(path: str) -> bool:
    if not os.path.exists(path):
        return False
    try:
        with redis.Redis(unix_socket_path=path, socket_connect_timeout=1) as probe:
            return bool(probe.ping())
    except redis.ConnectionError:
        return False


def test_unix_socket(unix_socket_url):
    plain = redis.Redis.from_url(unix_socket_url)
    q = Queue("sock", redis=plain)
    t = q.enqueue("m:f")
    [lease] = q.claim(1)
    lease.complete(7)
    assert q.get(t.id).result == 7
    assert plain.connection_pool.connection_class is redis.UnixDomainSocketConnection
    twin = as_taskq_client(plain)
    assert twin.connection_pool.connection_class is redis.UnixDomainSocketConnection
    assert twin.connection_pool.connection_kwargs["db"] == 3 and plain.exists(q.qkeys.task(t.id))


def test_refused_clients_say_why(redis_url):
    decoding = redis.Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(TypeError, match="pipeline"):
        Queue("x", redis=decoding.pipeline())
    with pytest.raises(TypeError, match="pipeline"):
        claim(redis.Redis.from_url(redis_url).pipeline(), Keys(), ["x"])
    with pytest.raises(TypeError, match="asyncio"):
        Queue("x", redis=redis.asyncio.Redis.from_url(redis_url))


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        with socket.socket() as probe, socket.socket() as bus:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            if port + 10000 > 65535:
                continue
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
            return port


def test_a_cluster_client_works_through_a_decoding_twin():
    port = _cluster_port()
    with spawned_redis("--port", str(port), "--cluster-enabled", "yes"):
        node = redis.Redis(port=port)
        _until(lambda: node.ping())
        node.execute_command("CLUSTER ADDSLOTS", *range(16384))
        _until(lambda: node.execute_command("CLUSTER INFO")["cluster_state"] == "ok")
        for decode in (True, False):
            cluster = RedisCluster(host="127.0.0.1", port=port, decode_responses=decode)
            twin = as_taskq_client(cluster)
            assert twin is as_taskq_client(cluster) and twin is not cluster
            assert twin.encoder.decode_responses
            q = Queue("x", redis=cluster, prefix=f"plain-{decode}")
            task = q.enqueue("job", args=[1])
            (lease,) = claim(cluster, Keys(f"plain-{decode}"), ["x"])
            assert lease.id == task.id
            lease.complete({"ok": True})
            assert get_task(task.id, redis=cluster, prefix=f"plain-{decode}").status == "completed"
            raw = cluster.hget(Keys(f"plain-{decode}").queue("x").task(task.id), "status")
            assert raw == ("completed" if decode else b"completed")  # the caller's client as it was
            cluster.close()
        node.close()
