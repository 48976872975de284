"""Redis Cluster over TLS (``rediss+cluster://``): a 3-master cluster of
this test's own whose nodes speak only TLS, to clients and to each other,
with a self-signed certificate. The certificate is checked by default;
with TASKQ_REDIS_SSL_CERT_REQS=none (or the URL parameter) a producer,
``taskq worker``, the scheduler, the web app, ``taskq info`` and ``rq
worker`` with taskq's classes all work; without it each says why in one
line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from redis.exceptions import RedisClusterException

from taskq import Queue
from taskq.cluster import TaskqCluster
from taskq.connection import client_from_url
from taskq.tls import CA_CERTS_SETTING, CERT_REQS_SETTING, certificate_problem
from tls_servers import Certificate, tls_cluster, web_app_creates_a_task

pytestmark = pytest.mark.single_redis  # brings its own cluster: once, in the main pass

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RECORD = "tests.workers.tasks:record"
QUEUES = ("tls-a", "tls-b", "tls-c", "tls-d")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = tls_cluster(Certificate(tmp_path_factory.mktemp("tls-cluster")))
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def no_tls_settings(monkeypatch):
    for name in (CERT_REQS_SETTING, CA_CERTS_SETTING, "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def relaxed(cluster):
    client = client_from_url(f"{cluster.url}?ssl_cert_reqs=none")
    yield client
    client.close()


@pytest.fixture
def prefix(relaxed):
    p = f"tqtls-{uuid.uuid4().hex[:10]}"
    yield p
    for node in relaxed.get_primaries():
        node_client = relaxed.get_redis_connection(node)
        keys = list(node_client.scan_iter(match=f"{p}:*", count=1000))
        for key in keys:
            node_client.delete(key)


def env_for(url: str, prefix: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TASKQ_", "RQ_")) and k != "REDIS_URL"}
    env.update(REDIS_URL=url, TASKQ_PREFIX=prefix, PYTHONPATH=str(ROOT), **extra)
    return env


def run(args: list[str], env: dict, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_the_nodes_speak_tls_to_each_other_and_verification_is_on(cluster, relaxed):
    info = relaxed.get_redis_connection(relaxed.get_primaries()[0]).config_get("tls-cluster")
    assert info == {"tls-cluster": "yes"} and len(relaxed.get_primaries()) == 3
    with pytest.raises(RedisClusterException) as exc:
        client_from_url(cluster.url)  # a cluster client reads the slot map as it is made
    assert "(self-signed certificate)" in certificate_problem(exc.value)


def test_the_setting_reaches_every_node(cluster, monkeypatch, prefix):
    monkeypatch.setenv(CERT_REQS_SETTING, "none")
    client = client_from_url(cluster.url)
    assert isinstance(client, TaskqCluster)
    tasks = {name: Queue(name, client, prefix=prefix).enqueue("builtins:len", [1]) for name in QUEUES}
    nodes = {client.nodes_manager.get_node_from_slot(client.keyslot(f"{{{n}}}")).port for n in QUEUES}
    assert len(nodes) >= 2  # the queues live on different masters
    assert all(Queue(n, client, prefix=prefix).get(t.id).status == "queued" for n, t in tasks.items())


def test_every_process_works_with_the_setting(cluster, relaxed, prefix):
    env = env_for(cluster.url, prefix, **{CERT_REQS_SETTING: "none"})
    queues = [Queue(name, relaxed, prefix=prefix) for name in QUEUES]
    counter = f"{prefix}:{{runs}}"
    tasks = [q.enqueue(RECORD, counter) for q in queues]
    out = run([str(BIN / "taskq"), "worker", "--burst", *QUEUES], env)
    assert out.returncode == 0, out.stderr
    assert [q.get(t.id).status for q, t in zip(queues, tasks)] == ["completed"] * len(QUEUES)
    assert relaxed.get(counter) == str(len(QUEUES))

    task = queues[0].enqueue(RECORD, counter)
    out = run([str(BIN / "rq"), "worker", "--burst", "-w", "workers.rq_worker.TaskqWorker",
               "--url", cluster.url, QUEUES[0]],
              dict(env, RQ_CONNECTION_CLASS="taskq.cluster.TaskqCluster"))
    assert out.returncode == 0, out.stderr
    assert queues[0].get(task.id).status == "completed", out.stderr[-2000:]

    from taskq.schedules import Schedules
    sched = Schedules(relaxed, prefix=prefix)
    sid = sched.create({"title": "t", "description": "", "schedule_kind": "cron",
                        "schedule_expr": "0 * * * *", "created_by": str(uuid.uuid4()),
                        "queue": QUEUES[1], "payload": {"callable": "builtins:len", "args": [[]]}})["id"]
    relaxed.hset(sched.sk.schedule(sid), "due", 1000)
    relaxed.zadd(sched.sk.due, {sid: 1000})
    proc = subprocess.Popen([str(BIN / "taskq"), "scheduler", "--interval", "0.2"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while sched.get(sid)["runs_total"] == 0 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert sched.get(sid)["runs_total"] == 1 and queues[1].count() == 2, err

    out = run([str(BIN / "taskq"), "info"], env)
    assert out.returncode == 0 and QUEUES[0] in out.stdout, out.stderr


def test_the_web_app_reaches_the_cluster_with_the_setting(cluster, prefix, monkeypatch):
    monkeypatch.setenv(CERT_REQS_SETTING, "none")
    web_app_creates_a_task(cluster.url, prefix)


def test_without_the_setting_each_process_says_why_in_one_line(cluster, prefix):
    env = env_for(cluster.url, prefix)
    why = "the Redis server's TLS certificate was refused (self-signed certificate)"
    out = run([str(BIN / "taskq"), "worker", "--burst", QUEUES[0]], env, timeout=60)
    said = [x for x in out.stderr.splitlines() if x.strip()]
    assert out.returncode == 2 and len(said) == 1 and why in said[0], out.stderr
    assert said[0].startswith(f"taskq: REDIS_URL={cluster.url!r}: not a Redis this process can use")
    out = run([str(BIN / "taskq"), "info"], env)
    said = [x for x in out.stderr.splitlines() if x.strip()]
    assert out.returncode == 1 and len(said) == 1, out.stderr
    assert said[0].startswith(f"Error: cannot reach Redis at {cluster.url}: {why}")
