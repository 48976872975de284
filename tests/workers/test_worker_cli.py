"""What `taskq worker` / `taskq scheduler` (and the rq worker classes) do at
start and say while they run: the user's modules are importable from the
working directory or --path, invalid queue names and malformed REDIS_URLs
are refused in one line with status 2, failures are logged one line each,
a summary comes periodically, --quiet / --verbose set how much is said."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskq import Queue
from workers import activity
from workers.cli import queue_names
from workers.pool import PoolWorker

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T = "tests.workers.outage_tasks"


def run_cli(args, redis_url, prefix, cwd=ROOT, timeout=60, env_extra=None):
    """A worker command as a user runs it: the console script, from ``cwd``."""
    env = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(env_extra or {})
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def project(tmp_path):
    """A user's project folder with its own task module (not on PYTHONPATH)."""
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "tasks.py").write_text("def add(a, b):\n    return a + b\n")
    return tmp_path


# -- the user's code ----------------------------------------------------------

def test_taskq_worker_imports_from_the_working_directory(project, redis_url, prefix, r):
    q = Queue("default", r, prefix=prefix)
    t = q.enqueue("myapp.tasks:add", 2, 3)
    out = run_cli([str(BIN / "taskq"), "worker", "--burst"], redis_url, prefix, cwd=project)
    assert out.returncode == 0, out.stderr
    got = q.get(t.id)
    assert got.status == "completed" and got.result == 5, (got.error, out.stderr)


def test_taskq_worker_path_option(project, redis_url, prefix, r, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    q = Queue("default", r, prefix=prefix)
    t = q.enqueue("myapp.tasks:add", 1, 1)
    out = run_cli([str(BIN / "taskq"), "worker", "--burst", "--path", "/nonexistent",
                   "-P", str(project)], redis_url, prefix, cwd=elsewhere)
    assert out.returncode == 0, out.stderr
    assert q.get(t.id).result == 2, q.get(t.id).error


@pytest.mark.parametrize("cls", ["TaskqSimpleWorker", "TaskqWorker", "TaskqPoolWorker"])
def test_rq_worker_classes_import_from_the_working_directory(cls, project, redis_url,
                                                             prefix, r):
    q = Queue("default", r, prefix=prefix)
    t = q.enqueue("myapp.tasks:add", 20, 22)
    out = run_cli([str(BIN / "rq"), "worker", "-w", f"workers.rq_worker.{cls}", "--burst",
                   "--url", redis_url, "default"], redis_url, prefix, cwd=project)
    assert out.returncode == 0, out.stderr
    got = q.get(t.id)
    assert got.status == "completed" and got.result == 42, (got.error, out.stderr[-2000:])


# -- settings refused at start ------------------------------------------------

@pytest.mark.parametrize("name", ["my queue", "", "a{b}", "default,", "ok,bad:name"])
def test_invalid_queue_names_are_refused_in_one_line(name, redis_url, prefix):
    out = run_cli([sys.executable, "-m", "taskq.cli", "worker", "--burst", name],
                  redis_url, prefix, timeout=30)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "queue" in lines[0] and "Traceback" not in out.stderr, lines


def test_comma_separated_queues_are_two_queues(redis_url, prefix, r):
    assert queue_names(("default,dts", "emails", "dts")) == ["default", "dts", "emails"]
    assert queue_names(()) == ["default"]
    t = Queue("dts", r, prefix=prefix).enqueue(f"{T}:boom", "x", max_retries=0)
    out = run_cli([sys.executable, "-m", "taskq.cli", "worker", "--burst", "default,dts"],
                  redis_url, prefix)
    assert out.returncode == 0, out.stderr
    assert Queue("dts", r, prefix=prefix).get(t.id).status == "failed"


@pytest.mark.parametrize("command", ["worker", "scheduler"])
@pytest.mark.parametrize("url", ["http://user:s3cret@localhost:6379/0", "localhost:6379",
                                 "redis://:s3cret@localhost:port/0"])
def test_malformed_redis_url_is_a_setting_error(command, url, prefix):
    out = run_cli([sys.executable, "-m", "taskq.cli", command], url, prefix, timeout=30)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "REDIS_URL" in lines[0] and ("expected" in lines[0] or "Port" in lines[0]), lines
    assert "s3cret" not in out.stderr


def test_verbose_and_quiet_together_are_refused(redis_url, prefix):
    out = run_cli([sys.executable, "-m", "taskq.cli", "worker", "-v", "-q"], redis_url, prefix,
                  timeout=30)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


# -- what a running worker says ----------------------------------------------

def test_each_failure_and_retry_is_one_line_with_id_function_and_error(r, q, prefix, caplog):
    flaky = q.enqueue(f"{T}:boom", "bad input", max_retries=1, backoff="fixed", backoff_base=0)
    caplog.set_level(logging.INFO, logger="taskq.worker")
    PoolWorker(r, ["default"], concurrency=1, prefix=prefix).run(burst=True)
    lines = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    about = [line for line in lines if flaky.id in line]
    assert len(about) == 2, lines
    assert all(f"{T}:boom" in line and "ValueError: bad input" in line for line in about)
    assert "will retry" in about[0] and "will retry" not in about[1]


def test_summary_line_when_something_happened(r, q, prefix, caplog, monkeypatch, tmp_path):
    monkeypatch.setattr(activity, "SUMMARY_EVERY", 0.0)
    q.enqueue(f"{T}:note_run", str(tmp_path / "runs"))
    q.enqueue(f"{T}:boom", "no", max_retries=0)
    caplog.set_level(logging.INFO, logger="taskq.worker")
    w = PoolWorker(r, ["default"], concurrency=1, prefix=prefix)
    w.run(burst=True)
    w.activity.tick()
    summaries = [rec.getMessage() for rec in caplog.records if "tasks/s" in rec.getMessage()]
    assert summaries, [rec.getMessage() for rec in caplog.records]
    total = sum(int(s.split(": last")[1].split(" completed")[0].split(": ")[-1].split()[-1])
                for s in summaries)
    assert total == 1
    assert any("1 failed" in s for s in summaries)


def test_no_summary_when_nothing_happened(caplog):
    a = activity.Activity(logging.getLogger("taskq.worker"), "worker w", every=0.0)
    caplog.set_level(logging.INFO, logger="taskq.worker")
    a.tick()
    assert not caplog.records


def test_quiet_and_verbose(redis_url, prefix, r, tmp_path):
    q = Queue("default", r, prefix=prefix)
    ok = q.enqueue(f"{T}:note_run", str(tmp_path / "runs"))
    bad = q.enqueue(f"{T}:boom", "loud", max_retries=0)
    quiet = run_cli([sys.executable, "-m", "taskq.cli", "worker", "--burst", "--quiet"],
                    redis_url, prefix)
    assert quiet.returncode == 0, quiet.stderr
    assert bad.id in quiet.stderr and " INFO " not in quiet.stderr, quiet.stderr
    assert ok.id not in quiet.stderr

    ok2 = q.enqueue(f"{T}:note_run", str(tmp_path / "runs"))
    loud = run_cli([sys.executable, "-m", "taskq.cli", "worker", "--burst", "--verbose"],
                   redis_url, prefix)
    assert loud.returncode == 0, loud.stderr
    assert f"task {ok2.id} ({T}:note_run) completed" in loud.stderr, loud.stderr
    normal = run_cli([sys.executable, "-m", "taskq.cli", "worker", "--burst"], redis_url, prefix)
    assert " INFO " in normal.stderr and " DEBUG " not in normal.stderr


@pytest.mark.parametrize("cls", ["TaskqSimpleWorker", "TaskqWorker"])
def test_rq_worker_classes_log_failures_one_line_each(cls, redis_url, prefix, r):
    q = Queue("default", r, prefix=prefix)
    t = q.enqueue(f"{T}:boom", "rq says no", max_retries=1, backoff="fixed", backoff_base=0)
    out = run_cli([str(BIN / "rq"), "worker", "-w", f"workers.rq_worker.{cls}", "--burst",
                   "--url", redis_url, "default"], redis_url, prefix)
    said = out.stdout + out.stderr  # RQ's log handler writes to stdout
    lines = [line for line in said.splitlines()
             if t.id in line and "ValueError: rq says no" in line and f"({T}:boom)" in line]
    assert len(lines) == 2, said
    assert "will retry" in lines[0] and "will retry" not in lines[1]


@pytest.fixture
def not_redis():
    """A server on a free port that answers like a web server, not Redis."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"redis://:s3cret@127.0.0.1:{srv.getsockname()[1]}/0"
    stop.set()
    t.join()
    srv.close()


@pytest.mark.parametrize("command", ["worker", "scheduler"])
def test_a_server_that_is_not_redis_is_a_setting_error(command, not_redis, prefix):
    out = run_cli([sys.executable, "-m", "taskq.cli", command], not_redis, prefix, timeout=30)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.strip().splitlines() if "REDIS_URL" in line]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "s3cret" not in out.stderr and "***" in lines[0]
