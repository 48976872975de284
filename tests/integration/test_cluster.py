"""taskq on a 3-master Redis Cluster: a queue's keys live in one slot,
queues spread over the masters, a cross-queue dependency between two
masters resolves, a plain pool worker drains queues on every master and an
idle one wakes for any of them, and RQ's own `rq worker` / `rq info` run the
taskq worker classes there.

Runs on the cluster of a TASKQ_TEST_CLUSTER=1 run, else on a local cluster
started for this module (taskq.local.cluster, a few seconds)."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis

from taskq import Keys, Queue
from taskq.cluster import TaskqCluster, is_cluster
from taskq.connection import as_taskq_client, client_from_url, cluster_node_url
from taskq.deps import drain_outbox
from taskq.local.cluster import LocalCluster
from taskq.worker_registry import WorkerRegistry
from workers import pool as pool_module
from workers.pool import PoolWorker
from workers.wake import SlotWake, slot_groups

from redis_clients import child_env, fresh_prefix

T = "tests.workers.pool_tasks"
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCRIPTS = ROOT / "scripts"
QUEUES = ["a", "b", "c", "d", "e", "f"]


@pytest.fixture(scope="module")
def cluster_url(redis_url):
    if cluster_node_url(redis_url) is not None:
        yield redis_url
        return
    with LocalCluster() as local:
        yield local.url


@pytest.fixture
def cr(cluster_url):
    client = client_from_url(cluster_url)
    yield client
    client.close()


@pytest.fixture
def cprefix(cr):
    yield from fresh_prefix(cr, "tqcl")


def master_of(client, key: str) -> str:
    return client.nodes_manager.get_node_from_slot(client.keyslot(key)).name


def test_a_queues_keys_share_one_slot_and_queues_spread_over_the_masters(cr, cprefix):
    assert isinstance(cr, TaskqCluster) and len(cr.get_primaries()) >= 3
    masters = set()
    for name in QUEUES:
        q = Queue(name, redis=cr, prefix=cprefix)
        first = q.enqueue("job", args=[1], tags=["x"], dedupe_key="k", concurrency_key="c")
        q.enqueue("job", depends_on=[first.id], delay=60)
        [lease] = q.claim(worker="w1")
        lease.log("hello")
        slots = {cr.keyslot(k) for k in cr.scan_iter(match=q.qkeys.pattern, count=1000)}
        assert slots == {cr.keyslot(q.qkeys.meta)}, name  # task, log, tag, dedupe, held... one slot
        masters.add(master_of(cr, q.qkeys.meta))
    assert len(masters) == 3


def test_a_dependency_in_a_queue_on_another_master_releases_its_dependent(cr, cprefix):
    upstream, downstream = Queue("a", redis=cr, prefix=cprefix), Queue("c", redis=cr, prefix=cprefix)
    assert master_of(cr, upstream.qkeys.meta) != master_of(cr, downstream.qkeys.meta)
    dep = upstream.enqueue("job")
    child = downstream.enqueue("job", depends_on=[dep.id])
    assert downstream.get(child.id).status == "blocked"
    [lease] = upstream.claim()
    lease.complete({"ok": True})
    drain_outbox(cr, Keys(cprefix), "a")  # the idempotent follow-up to the other slot
    assert downstream.get(child.id).status == "queued"


def test_a_pool_worker_drains_queues_on_every_master_and_is_registered(cr, cprefix):
    queues = [Queue(n, redis=cr, prefix=cprefix) for n in QUEUES]
    ids = [q.enqueue(f"{T}:now").id for q in queues for _ in range(5)]
    w = PoolWorker(cr, QUEUES, concurrency=2, prefix=cprefix)
    w.run(burst=True)
    assert all(q.get(i).status == "completed" for q in queues for i in ids if i.startswith(q.name + ":"))
    assert w.worker_id in {info.id for info in WorkerRegistry(cr, Keys(cprefix)).all()}


def test_a_plain_cluster_client_is_given_a_decoding_twin(cluster_url, cprefix):
    plain = redis.RedisCluster.from_url(cluster_node_url(cluster_url))
    twin = as_taskq_client(plain)
    assert is_cluster(twin) and twin is as_taskq_client(plain) and twin.encoder.decode_responses
    t = Queue("b", redis=plain, prefix=cprefix).enqueue("job")
    assert t.id.startswith("b:")
    plain.close()


def spread(client, names=QUEUES) -> list[str]:
    """One queue name per master, in the masters' order of appearance."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(master_of(client, Keys("x").queue(name).meta), name)
    assert len(seen) == 3
    return list(seen.values())


def test_a_wait_on_wake_keys_of_three_masters_ends_at_a_wake_on_any(cr, cprefix):
    keys = [Keys(cprefix).queue(n).wake for n in spread(cr)]
    assert len(slot_groups(cr, keys)) == 3
    wake = SlotWake(cr, keys)
    try:
        assert wake.wait(0.2) is False  # nothing pushed: the wait times out
        for key in keys:
            pusher = threading.Timer(0.2, cr.lpush, (key, "1"))
            pusher.start()
            started = time.monotonic()
            assert wake.wait(30) is True  # a poll would take 30 s
            assert time.monotonic() - started < 10
            pusher.join(10)
    finally:
        wake.close()


def test_an_idle_pool_worker_is_woken_by_a_queue_on_another_master(cr, cprefix, monkeypatch):
    monkeypatch.setattr(pool_module, "WAKE_TIMEOUT", 30.0)  # a poll would take 30 s
    names = spread(cr)
    w = PoolWorker(cr, names, concurrency=1, prefix=cprefix)
    th = threading.Thread(target=w.run, daemon=True)
    th.start()
    try:
        last = Queue(names[-1], redis=cr, prefix=cprefix)
        time.sleep(0.3)  # let it block
        t = last.enqueue(f"{T}:now")
        deadline = time.monotonic() + 10
        while last.get(t.id).status != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert last.get(t.id).status == "completed"
    finally:
        w.request_stop()
        for n in names:
            cr.lpush(Keys(cprefix).queue(n).wake, "1")
        th.join(10)
    assert not th.is_alive()


@pytest.mark.parametrize("cls", ["TaskqWorker", "TaskqSimpleWorker", "TaskqPoolWorker"])
def test_rq_worker_and_rq_info_run_on_the_cluster(cluster_url, cr, cprefix, cls, tmp_path):
    names = spread(cr)
    ids = {n: [Queue(n, redis=cr, prefix=cprefix).enqueue(f"{T}:now").id for _ in range(3)]
           for n in names}
    env = child_env(RQ_CONNECTION_CLASS="taskq.cluster.TaskqCluster", RQ_REDIS_URL=cluster_url,
                    TASKQ_PREFIX=cprefix, PYTHONPATH=str(ROOT))
    name = f"tqcl-{uuid.uuid4().hex[:8]}"
    try:
        out = subprocess.run([str(BIN / "rq"), "worker", "-w", f"workers.rq_worker.{cls}", "--burst",
                              "--name", name, *names], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        for n in names:
            assert [Queue(n, redis=cr, prefix=cprefix).get(i).status for i in ids[n]] == ["completed"] * 3
        info = subprocess.run([str(BIN / "rq"), "info", "--queue-class", "workers.rq_worker.TaskqQueue",
                               "--raw", *names], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)
        assert info.returncode == 0, info.stderr
        for n in names:
            assert f"queue {n} 0, 0 executing, 3 finished, 0 failed" in info.stdout, info.stdout
    finally:
        cr.delete(f"rq:worker:{name}")
        cr.srem("rq:workers", f"rq:worker:{name}")
        for n in names:
            cr.srem(f"rq:workers:{n}", f"rq:worker:{name}")


def test_the_cluster_benchmark_puts_two_queues_on_each_master(cr, monkeypatch):
    """scripts/bench_cluster.py: its queue names, 2 per master, listed master
    by master, so consecutive workers start on different masters."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    bench_cluster = importlib.import_module("bench_cluster")
    keys = Keys("taskq-bench")
    pairs = bench_cluster.spread_queues(cr, keys)
    masters = sorted(node.name for node in cr.get_primaries())
    assert [m for _, m in pairs] == masters * 2
    assert all(master_of(cr, keys.queue(name).wake) == m for name, m in pairs)
    names = [name for name, _ in pairs]
    assert len(set(names)) == len(names)
    firsts = {master_of(cr, keys.queue(bench_cluster.rotated(names, i)[0]).wake)
              for i in range(len(masters))}
    assert firsts == set(masters)


def test_a_pipeline_over_every_master_reloads_scripts_a_restarted_node_lost(cr, cprefix):
    """A node that lost its script cache (restart, failover, SCRIPT FLUSH)
    answers NOSCRIPT: the cluster pipeline loads the scripts on that node and
    sends the refused calls again, so the reads over every master still come
    back in one call."""
    from taskq.monitoring.latency import latencies

    for name in QUEUES:
        Queue(name, redis=cr, prefix=cprefix).enqueue("job")
    for node in cr.get_primaries():
        cr.execute_command("SCRIPT FLUSH", target_nodes=node)
    ages = latencies(cr, Keys(cprefix), QUEUES)
    assert set(ages) == set(QUEUES) and all(age >= 0 for age in ages.values())
