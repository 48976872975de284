"""Shell command tasks: what they can see of the worker's environment, and
their output. (That no process of theirs outlives the task or the worker:
test_command_processes.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workers.execution import command_env, run_task

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"TASKQ_JWT_SECRET": "jwt-secret-value",
           "REDIS_URL": "redis://:hunter2@127.0.0.1:6379/0",
           "AWS_SECRET_ACCESS_KEY": "aws-secret-value"}


@pytest.fixture
def commands(monkeypatch):
    monkeypatch.setenv("TASKQ_ALLOW_COMMANDS", "1")


def run(q, command, timeout=None):
    """Enqueue a command task, claim it and run it here, as a worker does."""
    q.enqueue_call(meta={"command": command}, timeout=timeout, max_retries=0)
    lease = q.claim(1)[0]
    start = time.monotonic()
    try:
        return run_task(lease), time.monotonic() - start, lease
    except Exception as exc:
        return exc, time.monotonic() - start, lease


def env_lines(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


# -- environment ---------------------------------------------------------------
def test_a_command_does_not_see_the_workers_secrets(q, commands, monkeypatch):
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    result, _, lease = run(q, "env")
    logged = "\n".join(x["message"] for x in q.logs(lease.id, limit=1000))
    env = env_lines(logged)
    for k, v in SECRETS.items():
        assert k not in env and v not in logged
    assert (env["TASKQ_TASK_ID"], env["TASKQ_LEASE_TOKEN"]) == (lease.id, lease.token)
    assert (env["LANG"], env["LC_ALL"]) == ("C.UTF-8", "C.UTF-8")
    assert env["PATH"] == os.environ["PATH"]
    assert set(env) <= {"PATH", "HOME", "LANG", "TZ", "TMPDIR", "TASKQ_TASK_ID",
                        "TASKQ_LEASE_TOKEN"} | {k for k in env if k.startswith("LC_")}


def test_a_command_gets_exactly_its_environment(q, commands, monkeypatch):
    """Nothing added on the way (Python, in a C locale, would set LC_CTYPE
    in its own environment: the supervisor between worker and command is
    Python)."""
    for name in ("LANG", "LC_ALL", "LC_CTYPE"):
        monkeypatch.delenv(name, raising=False)
    result, _, lease = run(q, "env")
    seen = env_lines("\n".join(x["message"] for x in q.logs(lease.id, limit=1000)))
    assert seen == command_env(lease) and "LC_CTYPE" not in seen
    monkeypatch.setenv("LC_CTYPE", "C")
    result, _, lease = run(q, "env")
    seen = env_lines("\n".join(x["message"] for x in q.logs(lease.id, limit=1000)))
    assert seen == command_env(lease) and seen["LC_CTYPE"] == "C"


def test_the_operator_lists_the_names_a_command_may_see(q, commands, monkeypatch):
    monkeypatch.setenv("TASKQ_COMMAND_ENV", " APP_MODE ,, PGHOST")
    monkeypatch.setenv("APP_MODE", "staging")
    monkeypatch.setenv("PGHOST", "db.internal")
    monkeypatch.setenv("NOT_LISTED", "hidden")
    monkeypatch.setenv("TASKQ_JWT_SECRET", SECRETS["TASKQ_JWT_SECRET"])
    result, _, lease = run(q, ["printenv", "APP_MODE", "PGHOST"])
    assert result == {"exit_code": 0, "output": "staging\ndb.internal"}
    result, _, _ = run(q, ["printenv", "NOT_LISTED"])
    assert "exited with status 1" in str(result)


def test_a_real_worker_process_keeps_its_secrets(r, q, prefix, redis_url, wait_for):
    """End to end: `taskq worker` started with secrets in its environment."""
    t = q.enqueue_call(meta={"command": "env"}, max_retries=0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
    env.update(SECRETS, REDIS_URL=redis_url, TASKQ_PREFIX=prefix, TASKQ_ALLOW_COMMANDS="1",
               TASKQ_COMMAND_ENV="APP_MODE", APP_MODE="visible", PYTHONPATH=str(ROOT))
    env["REDIS_URL"] = redis_url  # the worker needs a Redis it can reach
    out = subprocess.run([sys.executable, "-m", "taskq.cli", "worker", "--burst", "default"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    task = q.get(t.id)
    assert task.status == "completed", task.error
    seen = env_lines("\n".join(x["message"] for x in q.logs(t.id, limit=1000)))
    assert seen["APP_MODE"] == "visible" and seen["TASKQ_TASK_ID"] == t.id
    assert not {"TASKQ_JWT_SECRET", "REDIS_URL", "AWS_SECRET_ACCESS_KEY", "TASKQ_PREFIX",
                "PYTHONPATH"} & set(seen)


# -- output ------------------------------------------------------------------------
def test_output_written_just_before_exit_is_kept(q, commands):
    result, _, lease = run(q, [sys.executable, "-c",
                               "import sys; [print(i) for i in range(500)]; "
                               "print('last', file=sys.stderr)"])
    assert result["output"] == "\n".join(str(i) for i in range(480, 500))
    logs = [(x["level"], x["message"]) for x in q.logs(lease.id, limit=1000)]
    assert sorted(logs) == sorted([("info", str(i)) for i in range(500)] + [("error", "last")])
