"""RQ's own monitoring tools, installed from PyPI and run as their real
command-line servers, see taskq's queues through workers.rq_queue: rq-exporter
with its queue-class setting, rq-dashboard with a ``-c`` config module that
calls use_in_rq_dashboard (it has no such setting). Both see the ``rq worker``
processes as they are: those register in RQ's own worker keys.

RQ's keys are not prefixed, so these tools would list every test's workers on
the shared Redis: this module runs its own redis-server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis

from polling import until
from redis_clients import child_env
from taskq import Queue
from taskq.local.embedded import free_port, start_server

pytest.importorskip("rq_dashboard")  # the test extra
pytestmark = pytest.mark.single_redis  # its own server: nothing to add on a cluster

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T = "tests.workers.tasks"
# taskq status -> how many tasks of queue A are left in it
EXPECTED = {"completed": 2, "failed": 1, "queued": 3, "delayed": 4, "blocked": 5,
            "cancelled": 6, "running": 7}
# what each tool calls those statuses
EXPORTER = {"finished": "completed", "failed": "failed", "queued": "queued",
            "scheduled": "delayed", "deferred": "blocked", "started": "running"}
DASHBOARD = {"finished": "completed", "failed": "failed", "scheduled": "delayed",
             "deferred": "blocked", "canceled": "cancelled", "started": "running"}


def wait_for(cond, what: str, timeout: float = 20.0, logs=()):
    return until(cond, what, timeout,
                 lambda: "\n".join(p.read_text(errors="replace") for p in logs if p.exists()))


def spawn(cmd: list[str], log: Path, **env: str) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env=child_env(PYTHONPATH=str(ROOT), **env),
                                start_new_session=True)


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait()


def get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None, ""


def serve(cmd: list[str], url: str, log: Path, **env: str) -> subprocess.Popen:
    """Start a tool's server and return once ``url`` answers 200."""
    p = spawn(cmd, log, **env)
    wait_for(lambda: p.poll() is not None or get(url)[0] == 200, f"{cmd[0]} to serve", logs=[log])
    assert p.poll() is None, log.read_text()
    return p


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Queue A holds tasks in every taskq status (EXPECTED); queue B has one
    task that a live `rq worker` is busy with."""
    tmp = tmp_path_factory.mktemp("rq-tools")
    server = start_server(persistent=False)
    procs: list[subprocess.Popen] = []
    r = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        prefix, tag = f"rqtools-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
        env = dict(TASKQ_PREFIX=prefix, REDIS_URL=server.url)
        a, b = Queue(f"a-{tag}", redis=r, prefix=prefix), Queue(f"b-{tag}", redis=r, prefix=prefix)
        ran = [a.enqueue(f"{T}:record", f"{prefix}:runs") for _ in range(2)]
        failed = a.enqueue(f"{T}:raise_value_error", "bad input", max_retries=0)
        burst = subprocess.run(
            [str(BIN / "rq"), "worker", "-w", "workers.rq_worker.TaskqSimpleWorker", "--burst",
             "--url", server.url, a.name], cwd=ROOT, capture_output=True, text=True,
            timeout=60, env=child_env(PYTHONPATH=str(ROOT), **env))
        assert burst.returncode == 0, burst.stdout + burst.stderr
        a.enqueue_many([{"func": f"{T}:record", "args": ["x"]}] * 7)
        running = [lease.id for lease in a.claim(7, lease=600)]
        queued = [a.enqueue(f"{T}:record", "x").id for _ in range(3)]
        delayed = [a.enqueue(f"{T}:record", "x", delay=3600).id for _ in range(4)]
        for _ in range(5):
            a.enqueue(f"{T}:record", "x", depends_on=[queued[0]])
        for _ in range(6):
            assert a.cancel(a.enqueue(f"{T}:record", "x", delay=3600).id) == "cancelled"
        assert a.counts() == EXPECTED
        busy = b.enqueue(f"{T}:sleep_then_incr", 300, f"{prefix}:s", f"{prefix}:d", f"{prefix}:p")
        worker = f"busy-{tag}"
        log = tmp / "worker.log"
        procs.append(spawn([str(BIN / "rq"), "worker", "-w", "workers.rq_worker.TaskqSimpleWorker",
                            "--url", server.url, "--name", worker, b.name], log, **env))
        wait_for(lambda: r.hget(f"rq:worker:{worker}", "state") == "busy"
                 and b.count("running") == 1, "the worker to be busy", logs=[log])
        yield SimpleNamespace(url=server.url, env=env, tmp=tmp, a=a.name, b=b.name, worker=worker,
                              done=[t.id for t in ran], failed=failed.id, queued=queued,
                              delayed=delayed, running=running, busy=busy.id)
    finally:
        for p in procs:
            stop(p)
        r.close()
        server.stop()


def test_rq_exporter_reports_taskq_counts_and_the_rq_workers(scene):
    """rq-exporter's RQ_QUEUE_CLASS (or --queue-class) is all it takes."""
    from prometheus_client.parser import text_string_to_metric_families

    # not in the test extra (it requires redis<6): `pip install --no-deps rq-exporter==3.1.0`
    pytest.importorskip("rq_exporter")

    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    p = serve([str(BIN / "rq-exporter"), "--host", "127.0.0.1", "--port", str(port),
               "--redis-url", scene.url], url, scene.tmp / "exporter.log",
              RQ_QUEUE_CLASS="workers.rq_queue.TaskqQueue", **scene.env)
    try:
        families = {f.name: f for f in text_string_to_metric_families(get(url)[1])}
    finally:
        stop(p)
    jobs = {(s.labels["queue"], s.labels["status"]): s.value for s in families["rq_jobs"].samples}
    assert {st: jobs[scene.a, st] for st in EXPORTER} == {
        st: EXPECTED[tq] for st, tq in EXPORTER.items()}
    assert jobs[scene.b, "started"] == 1 and jobs[scene.b, "queued"] == 0
    workers = [s.labels for s in families["rq_workers"].samples]
    assert {"name": scene.worker, "state": "busy", "queues": scene.b} in workers, workers


def test_rq_dashboard_lists_taskq_queues_jobs_and_the_rq_workers(scene):
    """Through its ``-c`` config module, the one place it runs our code."""
    (scene.tmp / "taskq_dashboard.py").write_text(
        "from workers.rq_queue import use_in_rq_dashboard\nuse_in_rq_dashboard()\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}/0"
    p = serve([str(BIN / "rq-dashboard"), "--bind", "127.0.0.1", "--port", str(port),
               "--redis-url", scene.url, "--config", "taskq_dashboard",
               "--extra-path", str(scene.tmp), "--disable-delete"],
              f"{base}/data/queues.json", scene.tmp / "dashboard.log", **scene.env)
    try:
        def data(path: str) -> dict:
            status, body = get(f"{base}/data/{path}.json")
            assert status == 200, (path, body)
            return json.loads(body)

        queues = {q["name"]: q for q in data("queues")["queues"]}
        assert {scene.a, scene.b} <= set(queues)
        a = queues[scene.a]
        assert a["count"] == EXPECTED["queued"]
        assert {reg: a[f"{reg}_job_registry_count"] for reg in DASHBOARD} == {
            reg: EXPECTED[tq] for reg, tq in DASHBOARD.items()}
        assert queues[scene.b]["started_job_registry_count"] == 1

        def listed(registry: str) -> list[dict]:
            return data(f"jobs/{scene.a}/{registry}/8/asc/1")["jobs"]

        assert [j["id"] for j in listed("queued")] == scene.queued  # in run order
        assert sorted(j["id"] for j in listed("scheduled")) == sorted(scene.delayed)
        assert sorted(j["id"] for j in listed("finished")) == sorted(scene.done)
        assert sorted(j["id"] for j in listed("started")) == sorted(scene.running)
        [bad] = listed("failed")
        assert bad["id"] == scene.failed and "ValueError: bad input" in bad["exc_info"]
        assert bad["description"].startswith(f"{T}:raise_value_error(")
        job = data(f"job/{scene.failed}")
        assert (job["status"], job["origin"]) == ("failed", scene.a)
        assert "ValueError: bad input" in job["exc_info"] and job["ended_at"]
        assert get(f"{base}/view/jobs/{scene.a}/failed/8/asc/1")[0] == 200  # the page renders

        [w] = [w for w in data("workers")["workers"] if w["name"] == scene.worker]
        assert (w["state"], w["queues"]) == ("busy", [scene.b])
        current = data(f"job/{w['current_job']['job_id']}")  # the RQ id of the task it runs
        assert (current["id"], current["status"]) == (scene.busy, "running")

        # its Requeue button retries the task (taskq's retry)
        requeue = urllib.request.Request(f"{base[:-2]}/job/{scene.failed}/requeue", method="POST")
        with urllib.request.urlopen(requeue, timeout=5) as reply:
            assert reply.status == 200
        r = redis.Redis.from_url(scene.url, decode_responses=True)
        assert Queue(scene.a, redis=r, prefix=scene.env["TASKQ_PREFIX"]).get(scene.failed).status \
            == "queued"
        r.close()
    finally:
        stop(p)


def test_without_the_patch_rq_dashboard_sees_no_taskq_queue(scene):
    """Why the patch: rq_dashboard.web lists rq.Queue.all (RQ's rq:queues
    set, which taskq never fills) and has no setting to change that."""
    from rq_dashboard.cli import make_flask_app
    from rq_dashboard.web import Queue as DashboardQueue, setup_rq_connection

    from rq import Queue as RQQueue

    assert DashboardQueue is RQQueue  # this process never called use_in_rq_dashboard
    app = make_flask_app(None, None, None, "")
    app.config["RQ_DASHBOARD_REDIS_URL"] = scene.url
    setup_rq_connection(app)
    queues = app.test_client().get("/0/data/queues.json").get_json()["queues"]
    assert scene.a not in {q["name"] for q in queues}
    app.redis_conn.close()
