"""Redis over TLS on one server (taskq.tls): the certificate is checked by
default; a self-signed one is accepted only when the operator says so
(redis-py's URL parameters, or TASKQ_REDIS_SSL_CERT_REQS /
TASKQ_REDIS_SSL_CA_CERTS beside the URL), and then every process works:
a producer, ``taskq worker``, ``taskq scheduler``, the web app, the
``taskq`` CLI and ``rq worker`` with taskq's classes. Without it each one
says so in one line. The server is a redis-server of this test's own,
listening only on a TLS port with a certificate made by openssl."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from taskq import Queue
from taskq.connection import as_taskq_client, client_from_url
from taskq.tls import (CA_CERTS_SETTING, CERT_REQS_SETTING, TaskqRedis, TlsSettingError,
                       certificate_problem, tls_kwargs)
from tls_servers import Certificate, TlsRedis, web_app_creates_a_task

pytestmark = pytest.mark.single_redis  # brings its own server: once, in the main pass

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "tls-test-secret-0123456789abcdef0123"
RECORD = "tests.workers.tasks:record"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return Certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(cert):
    with TlsRedis(cert) as running:
        yield running


@pytest.fixture
def relaxed(server):
    """A decoding client that accepts the test certificate (URL parameter)."""
    client = client_from_url(f"{server.url}?ssl_cert_reqs=none")
    yield client
    client.close()


@pytest.fixture
def prefix(relaxed):
    p = f"tqtls-{uuid.uuid4().hex[:10]}"
    yield p
    keys = list(relaxed.scan_iter(match=f"{p}:*", count=1000))
    if keys:
        relaxed.delete(*keys)


@pytest.fixture(autouse=True)
def no_tls_settings(monkeypatch):
    for name in (CERT_REQS_SETTING, CA_CERTS_SETTING, "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


def env_for(url: str, prefix: str, **extra: str) -> dict:
    """A process's environment: this one's without TASKQ_/RQ_/REDIS_URL settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TASKQ_", "RQ_")) and k != "REDIS_URL"}
    env.update(REDIS_URL=url, TASKQ_PREFIX=prefix, PYTHONPATH=str(ROOT), **extra)
    return env


def run(args: list[str], env: dict, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def lines(text: str) -> list[str]:
    return [x for x in text.splitlines() if x.strip()]


# -- the client ---------------------------------------------------------------------

def test_verification_is_on_by_default(server):
    client = client_from_url(server.url)
    with pytest.raises(redis.ConnectionError) as exc:
        client.ping()
    line = certificate_problem(exc.value)
    assert line.startswith("the Redis server's TLS certificate was refused (self-signed certificate)")
    assert f"{CERT_REQS_SETTING}=none" in line and CA_CERTS_SETTING in line and "\n" not in line
    assert certificate_problem(redis.ConnectionError("Error 111 connecting. Connection refused.")) is None


@pytest.mark.parametrize("how", ["url none", "setting none", "setting NONE", "url ca", "setting ca",
                                 "setting ca, localhost"])
def test_each_way_of_accepting_the_certificate(how, server, cert, monkeypatch, prefix):
    url = server.url
    if how == "url none":
        url += "?ssl_cert_reqs=none"
    elif how == "url ca":  # checked against the CA given, host name included
        url += f"?ssl_ca_certs={cert.cert}"
    elif how.startswith("setting ca"):
        monkeypatch.setenv(CA_CERTS_SETTING, str(cert.cert))
        if how.endswith("localhost"):
            url = url.replace("127.0.0.1", "localhost")
    else:
        monkeypatch.setenv(CERT_REQS_SETTING, how.split()[-1])
    q = Queue("default", client_from_url(url), prefix=prefix)
    assert q.get(q.enqueue("builtins:len", [1, 2]).id).status == "queued"


def test_a_ca_that_did_not_sign_it_is_refused(server, tmp_path, monkeypatch):
    other = Certificate(tmp_path)
    monkeypatch.setenv(CA_CERTS_SETTING, str(other.cert))
    with pytest.raises(redis.ConnectionError) as exc:
        client_from_url(server.url).ping()
    assert certificate_problem(exc.value).startswith("the Redis server's TLS certificate was refused (")


def test_the_url_wins_over_the_setting(server, monkeypatch):
    monkeypatch.setenv(CERT_REQS_SETTING, "none")
    with pytest.raises(redis.ConnectionError) as exc:
        client_from_url(f"{server.url}?ssl_cert_reqs=required").ping()
    assert "self-signed certificate" in certificate_problem(exc.value)


@pytest.mark.parametrize("setting, value, url_tail, expected", [
    (CERT_REQS_SETTING, "off", "", f"{CERT_REQS_SETTING}='off' is not valid: expected none, "
                                   "optional or required"),
    (None, None, "?ssl_cert_reqs=NONE", "ssl_cert_reqs (a parameter of the Redis URL)='NONE' is "
                                        "not valid: expected none, optional or required"),
    (CA_CERTS_SETTING, "/nonexistent/ca.pem", "", f"{CA_CERTS_SETTING}='/nonexistent/ca.pem' is not "
                                                  "valid: expected a file of CA certificates (PEM) "
                                                  "that exists"),
    (None, None, "?ssl_ca_certs=/nonexistent/ca.pem", "ssl_ca_certs (a parameter of the Redis URL)="),
])
def test_a_setting_redis_py_would_refuse_later_is_refused_at_once(setting, value, url_tail, expected,
                                                                  server, monkeypatch):
    if setting:
        monkeypatch.setenv(setting, value)
    with pytest.raises(TlsSettingError) as exc:
        client_from_url(server.url + url_tail)
    assert str(exc.value).startswith(expected) and "\n" not in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_the_settings_leave_plain_urls_alone(monkeypatch):
    monkeypatch.setenv(CERT_REQS_SETTING, "off")  # would be refused for a TLS URL
    monkeypatch.setenv(CA_CERTS_SETTING, "/nonexistent/ca.pem")
    for url in ("redis://127.0.0.1:1/0", "unix:///tmp/nothing.sock", "redis+cluster://127.0.0.1:1"):
        assert tls_kwargs(url) == {}
    client_from_url("redis://127.0.0.1:1/0")  # made (it connects on first use)


def test_a_plain_client_passed_in_keeps_its_tls_settings(server, prefix, relaxed):
    mine = redis.Redis.from_url(f"{server.url}?ssl_cert_reqs=none")  # bytes, as redis-py's default
    task = Queue("default", mine, prefix=prefix).enqueue("builtins:len", [1])
    assert Queue("default", relaxed, prefix=prefix).get(task.id).status == "queued"
    assert as_taskq_client(mine) is not mine and as_taskq_client(mine).ping()


def test_the_class_for_rqs_cli_applies_the_settings(server, monkeypatch, prefix):
    with pytest.raises(redis.ConnectionError):
        TaskqRedis.from_url(server.url).ping()
    monkeypatch.setenv(CERT_REQS_SETTING, "none")
    client = TaskqRedis.from_url(server.url)
    client.set(f"{prefix}:bytes", "x")
    assert client.get(f"{prefix}:bytes") == b"x"  # replies stay bytes, as RQ needs


# -- every process, with the setting ----------------------------------------------

def test_every_process_works_with_the_setting(server, relaxed, prefix):
    env = env_for(server.url, prefix, **{CERT_REQS_SETTING: "none"})
    q = Queue("default", relaxed, prefix=prefix)
    counter = f"{prefix}:runs"

    # taskq worker; the task body's own get_redis() goes over TLS too
    first = q.enqueue(RECORD, counter)
    out = run([str(BIN / "taskq"), "worker", "--burst", "default"], env)
    assert out.returncode == 0, out.stderr
    assert q.get(first.id).status == "completed" and relaxed.get(counter) == "1", q.get(first.id).error

    # rq worker with taskq's class: told the client class that reads the setting
    second = q.enqueue(RECORD, counter)
    out = run([str(BIN / "rq"), "worker", "--burst", "-w", "workers.rq_worker.TaskqWorker",
               "--url", server.url, "default"], dict(env, RQ_CONNECTION_CLASS="taskq.tls.TaskqRedis"))
    assert out.returncode == 0, out.stderr
    assert q.get(second.id).status == "completed", (q.get(second.id).error, out.stderr[-2000:])

    # the scheduler fires a due schedule
    from taskq.schedules import Schedules
    sched = Schedules(relaxed, prefix=prefix)
    sid = sched.create({"title": "t", "description": "", "schedule_kind": "cron",
                        "schedule_expr": "0 * * * *", "created_by": str(uuid.uuid4()),
                        "payload": {"callable": "builtins:len", "args": [[]]}})["id"]
    relaxed.hset(sched.sk.schedule(sid), "due", 1000)
    relaxed.zadd(sched.sk.due, {sid: 1000})
    before = q.count()
    proc = subprocess.Popen([str(BIN / "taskq"), "scheduler", "--interval", "0.2"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while q.count() == before and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert q.count() == before + 1 and sched.get(sid)["runs_total"] == 1, err

    # the CLI, each layer's commands
    out = run([str(BIN / "taskq"), "info"], env)
    assert out.returncode == 0 and "default" in out.stdout, out.stderr
    for args in (["auth", "apikey", "list"], ["handlers", "list"]):
        out = run([str(BIN / "taskq"), *args], env)
        assert out.returncode == 0, (args, out.stderr)


def test_rq_worker_takes_redis_pys_url_parameter(server, relaxed, prefix):
    q = Queue("default", relaxed, prefix=prefix)
    task = q.enqueue("builtins:len", [1, 2, 3])
    url = f"{server.url}?ssl_cert_reqs=none"
    out = run([str(BIN / "rq"), "worker", "--burst", "-w", "workers.rq_worker.TaskqPoolWorker",
               "--url", url, "default"], env_for(url, prefix))
    assert out.returncode == 0, out.stderr
    assert q.get(task.id).result == 3


def test_the_web_app_makes_its_client_with_the_setting(server, prefix, monkeypatch):
    monkeypatch.setenv(CERT_REQS_SETTING, "none")
    client = web_app_creates_a_task(server.url, prefix)
    assert client.get("/health").json["data"]["storage"]["healthy"] is True


# -- every process, without it: one line ------------------------------------------

def test_without_the_setting_each_process_says_why_in_one_line(server, prefix):
    env = env_for(server.url, prefix)
    why = "the Redis server's TLS certificate was refused (self-signed certificate)"
    for args in (["worker", "--burst", "default"], ["scheduler"]):
        out = run([str(BIN / "taskq"), *args], env, timeout=60)
        assert out.returncode == 2, (args, out.stderr)
        said = lines(out.stderr)  # the scheduler's "started" and "stopped" lines beside it
        assert [x for x in said if "certificate" in x] == said[-1:] == [
            f"taskq: REDIS_URL={server.url!r}: not a Redis this process can use ({why}: trust its CA "
            f"with ssl_ca_certs=<file> in the URL or {CA_CERTS_SETTING}, or turn the check off with "
            f"ssl_cert_reqs=none in the URL or {CERT_REQS_SETTING}=none)"], args
        assert "Traceback" not in out.stderr and len(said) <= 3, out.stderr
    out = run([str(BIN / "taskq"), "info"], env)
    assert out.returncode == 1 and lines(out.stderr)[0].startswith(
        f"Error: cannot reach Redis at {server.url}: {why}") and len(lines(out.stderr)) == 1, out.stderr
    for args in (["auth", "apikey", "list"], ["handlers", "list"]):  # the other layers' commands
        out = run([str(BIN / "taskq"), *args], env)
        assert out.returncode == 1 and lines(out.stderr) == [
            f"Error: cannot reach Redis at {server.url}: {why}: trust its CA with ssl_ca_certs=<file> in the URL or "
            f"{CA_CERTS_SETTING}, or turn the check off with ssl_cert_reqs=none in the URL or "
            f"{CERT_REQS_SETTING}=none"], (args, out.stderr)
    out = run([str(BIN / "taskq"), "start"], env)
    assert out.returncode == 1 and len(lines(out.stderr)) == 1 and why in out.stderr, out.stderr
    out = run([str(BIN / "rq"), "worker", "--burst", "-w", "workers.rq_worker.TaskqWorker",
               "--url", server.url, "default"], env)
    assert out.returncode == 1 and len(lines(out.stderr)) == 1, out.stderr  # RQ's own line
    assert "certificate verify failed: self-signed certificate" in out.stderr


def test_without_the_setting_the_web_app_answers_503_and_logs_why(server, prefix, caplog):
    from api import create_app
    from api.auth import mint_token

    app = create_app({"REDIS_URL": server.url, "TASKQ_PREFIX": prefix, "TASKQ_JWT_SECRET": SECRET})
    client = app.test_client()
    admin = {"Authorization": f"Bearer {mint_token(SECRET, 'tls', ['admin'], 600)}"}
    with caplog.at_level(logging.WARNING):
        resp = client.get("/api/tasks", headers=admin)
    assert resp.status_code == 503 and resp.json["error"]["code"] == "unavailable"
    said = [r.getMessage() for r in caplog.records if "data store unreachable" in r.getMessage()]
    assert len(said) == 1 and "TLS certificate was refused (self-signed certificate)" in said[0]
    assert client.get("/health").status_code == 503


def test_a_bad_setting_stops_processes_at_start_in_one_line(server, prefix, monkeypatch):
    from api import create_app
    from api.config import ConfigError

    env = env_for(server.url, prefix, **{CERT_REQS_SETTING: "sometimes"})
    expected = f"taskq: {CERT_REQS_SETTING}='sometimes' is not valid: expected none, optional or required"
    out = run([str(BIN / "taskq"), "worker", "--burst"], env)
    assert out.returncode == 2 and lines(out.stderr) == [expected], out.stderr
    monkeypatch.setenv(CERT_REQS_SETTING, "sometimes")
    with pytest.raises(ConfigError, match=f"^{CERT_REQS_SETTING}='sometimes' is not valid"):
        create_app({"REDIS_URL": server.url, "TASKQ_PREFIX": prefix})
