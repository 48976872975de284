"""Many waits, few connections: every Task.wait of a process goes through its
client's hub (taskq.waiter_hub), so a thousand waiting threads hold two
connections, whatever the pool allows; and the hub survives what a
connection goes through (a kill, a fork, idle time, a server that leaves)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis

from taskq import Queue, waiter_hub, waiting
from taskq.lease import complete_many

from redis_clients import client_from_url, plain_client

WAITERS = 1000


def named(redis_url, **kwargs):
    """A client whose connections carry a name of their own (CLIENT LIST counts them)."""
    name = f"tq-wait-{uuid.uuid4().hex[:8]}"
    return name, client_from_url(redis_url, client_name=name, **kwargs)


def connections(r, name: str) -> int:
    return sum(1 for c in r.client_list() if c.get("name") == name)


def wait_all(q: Queue, ids: list[str], timeout: float = 120) -> tuple[dict, dict, threading.Barrier]:
    """One thread per id waiting on it through q; returns (values, errors) filled as they end."""
    values: dict[str, object] = {}
    errors: dict[str, BaseException] = {}
    start = threading.Barrier(len(ids) + 1)

    def run(task_id: str) -> None:
        start.wait()
        try:
            values[task_id] = q.result(task_id, timeout)
        except BaseException as exc:
            errors[task_id] = exc

    threads = [threading.Thread(target=run, args=(tid,), daemon=True) for tid in ids]
    for t in threads:
        t.start()
    start.wait()
    return values, errors, threads


def until(pred, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def complete_all(q: Queue) -> None:
    """Claim and complete everything queued, each with its own id as result."""
    while leases := q.claim(200):
        complete_many(q.redis, [(lease, {"id": lease.task.id}) for lease in leases])


@pytest.fixture
def slow_recheck(monkeypatch):
    """Nothing but a push (or the hub's look) can answer within the tests' limits."""
    monkeypatch.setattr(waiting, "RECHECK", 300.0)


def run_many(r, redis_url, prefix, client, name, n=WAITERS):
    q = Queue("many", redis=r, prefix=prefix)
    ids = [t.id for t in q.enqueue_many([{"func": "f"} for _ in range(n)])]
    wq = Queue("many", redis=client, prefix=prefix)
    values, errors, threads = wait_all(wq, ids)
    hub = waiter_hub.hub_for(wq.redis)
    until(lambda: hub.armed + len(values) + len(errors) >= n)
    assert errors == {}
    assert connections(r, name) <= 2  # the hub's pub/sub connection and one for its looks
    complete_all(q)
    for t in threads:
        t.join(60)
    assert errors == {}
    assert values == {tid: {"id": tid} for tid in ids}
    assert connections(r, name) <= 2


def test_a_thousand_waiters_on_one_client_share_two_connections(r, redis_url, prefix, slow_recheck):
    name, client = named(redis_url)  # redis-py's default pool: at most 100 connections
    try:
        run_many(r, redis_url, prefix, client, name)
    finally:
        client.close()


def test_a_thousand_waiters_through_a_blocking_pool_of_ten(r, redis_url, prefix, slow_recheck):
    if os.environ.get("TASKQ_TEST_CLUSTER") == "1":
        pytest.skip("a redis.Redis pool: one plain Redis")
    name = f"tq-wait-{uuid.uuid4().hex[:8]}"
    pool = redis.BlockingConnectionPool.from_url(redis_url, max_connections=10, timeout=30,
                                                 decode_responses=True, client_name=name)
    client = redis.Redis(connection_pool=pool)
    try:
        run_many(r, redis_url, prefix, client, name)
    finally:
        client.close()
        pool.disconnect()


def test_a_plain_redis_client_passed_in_waits_the_same_way(r, redis_url, prefix, slow_recheck):
    name = f"tq-wait-{uuid.uuid4().hex[:8]}"
    client = plain_client(redis_url, client_name=name)  # no decode_responses: taskq's twin waits
    try:
        run_many(r, redis_url, prefix, client, name, n=300)
    finally:
        client.close()


def test_a_resp2_client_gets_its_pushes_too(r, redis_url, prefix, slow_recheck):
    name, client = named(redis_url, protocol=2)
    try:
        run_many(r, redis_url, prefix, client, name, n=50)
    finally:
        client.close()


def test_ids_with_any_character_and_results_of_any_size_arrive(r, prefix, slow_recheck):
    q = Queue("odd", redis=r, prefix=prefix)
    big = "x" * 200_000  # over the size a push carries: read back with the task
    cases = {"odd:line\nbreak": {"a": "b\nc"}, "odd:7 seven\n\n": [1, "2:3"],
             "odd:ünï©ødé": "é", "odd:astral\U0001F600": "\U0001F600", "odd:big": big}
    for tid in cases:
        q.enqueue("f", task_id=tid)
    values, errors, threads = wait_all(q, list(cases))
    until(lambda: waiter_hub.hub_for(q.redis).armed >= len(cases))
    while leases := q.claim(10):
        complete_many(q.redis, [(lease, cases[lease.task.id]) for lease in leases])
    for t in threads:
        t.join(10)
    assert errors == {} and values == cases
    f = q.enqueue("f", task_id="odd:fails\n", max_retries=0)
    values, errors, threads = wait_all(q, [f.id])
    until(lambda: waiter_hub.hub_for(q.redis).armed >= 1)
    q.claim()[0].fail("Boom:\nline two " + "y" * 100_000)
    threads[0].join(10)
    assert errors[f.id].error.startswith("Boom:\nline two yyy") and errors[f.id].task.attempts == 1


def test_a_killed_hub_connection_loses_no_outcome(r, redis_url, prefix, slow_recheck):
    name, client = named(redis_url)
    try:
        q = Queue("kill", redis=r, prefix=prefix)
        wq = Queue("kill", redis=client, prefix=prefix)
        t = q.enqueue("f")
        values, errors, threads = wait_all(wq, [t.id])
        hub = waiter_hub.hub_for(client)
        until(lambda: hub.armed == 1)
        [sub] = [c for c in r.client_list() if c.get("name") == name and int(c.get("sub", 0)) > 0]
        with hub._lock:  # the hub cannot read until the outcome is published to nobody
            r.client_kill_filter(_id=sub["id"])
            q.claim()[0].complete("while away")
        threads[0].join(5)
        assert errors == {} and values == {t.id: "while away"}
        u = q.enqueue("f")  # the hub is subscribed again: pushes come as before
        values, errors, threads = wait_all(wq, [u.id])
        until(lambda: hub.armed == 1)
        q.claim()[0].complete("after")
        threads[0].join(5)
        assert values == {u.id: "after"}
    finally:
        client.close()


def test_the_hub_stops_when_idle_and_a_new_wait_starts_another(r, redis_url, prefix, monkeypatch):
    monkeypatch.setattr(waiter_hub, "IDLE_STOP", 0.2)
    name, client = named(redis_url)
    completer = None
    try:
        q = Queue("idle", redis=client, prefix=prefix)
        t = q.enqueue("f")
        q.claim()[0].complete(1)
        assert t.wait(5) == 1 and q.enqueue("f").id  # the answer came from the hub's look
        hub = waiter_hub.hub_for(client)
        until(lambda: hub.stopped and not hub._thread.is_alive(), 10)
        until(lambda: not any(c.get("name") == name and int(c.get("sub", 0)) > 0
                              for c in r.client_list()), 10)
        assert waiter_hub.hub_for(client) is not hub
        u = q.enqueue("f", task_id="idle:after")
        completer = threading.Timer(0.2, lambda: q.claim(5)[-1].complete(2))
        completer.start()
        assert q.result(u.id, 10) == 2
    finally:
        if completer is not None:  # the result is pushed before complete() has its reply
            completer.join(10)
        client.close()


def test_a_forked_child_waits_through_a_hub_of_its_own(r, redis_url, prefix, slow_recheck):
    q = Queue("fork", redis=r, prefix=prefix)
    first = q.enqueue("f")
    q.claim()[0].complete("parent")
    assert first.wait(5) == "parent"
    parent_hub = waiter_hub.hub_for(r)
    t = q.enqueue("f")
    channel = q.qkeys.notify_channel
    before = r.pubsub_numsub(channel)[0][1]
    pid = os.fork()
    if pid == 0:  # the child: its own hub, nothing of the parent's
        code = 1
        try:
            hub = waiter_hub.hub_for(r)
            started = time.monotonic()
            ok = hub is not parent_hub and hub.pid == os.getpid() and t.wait(20) == "child"
            code = 0 if ok and time.monotonic() - started < 10 else 2
        finally:
            os._exit(code)
    until(lambda: r.pubsub_numsub(channel)[0][1] > before, 20)
    until(lambda: r.hget(q.qkeys.task(t.id), "waiters") == "1", 20)
    q.claim()[0].complete("child")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    u = q.enqueue("f")  # the parent's hub still answers
    completer = threading.Timer(0.1, lambda: q.claim()[0].complete("again"))
    completer.start()
    assert u.wait(5) == "again"
    completer.join(10)  # the result is pushed before complete() has its reply


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.single_redis
def test_waiters_get_an_error_not_a_hang_when_redis_goes_away(tmp_path, slow_recheck):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("no redis-server binary")
    port = free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, decode_responses=True, socket_timeout=2,
                         socket_connect_timeout=1)
    try:
        until(lambda: _pings(client), 20)
        q = Queue("gone", redis=client, prefix="tqtest-gone")
        ids = [q.enqueue("f").id for _ in range(5)]
        values, errors, threads = wait_all(q, ids, timeout=None)
        until(lambda: waiter_hub.hub_for(client).armed == 5)
        proc.kill()
        proc.wait(10)
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert values == {} and set(errors) == set(ids)
        assert all(isinstance(e, redis.ConnectionError) for e in errors.values()), errors
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        client.close()


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


def test_back_to_back_waits_on_a_real_worker_are_each_pushed(redis_url, r, prefix, slow_recheck):
    """A waiter's look and the push of the task's end race each other (the
    look runs in the waiter's thread, the push is read by the hub): every
    one of these waits must end with the task, not at its deadline."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
               PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "taskq.cli", "worker", "--concurrency", "1",
                             "b2b"], env=env, cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        q = Queue("b2b", redis=r, prefix=prefix)
        incr = "tests.workers.pool_tasks:incr"
        assert q.enqueue(incr, f"{prefix}:n").wait(timeout=30) == 1
        slow = []
        for i in range(300):
            started = time.monotonic()
            assert q.enqueue(incr, f"{prefix}:n").wait(timeout=20) == i + 2
            if time.monotonic() - started > 5:
                slow.append(i)
        assert slow == []
    finally:
        proc.terminate()
        proc.wait(15)
