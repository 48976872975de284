"""Shell command tasks: what they can see of the worker's environment, and
that their whole process group dies at the deadline, when the command
itself exits, and when the worker stops."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workers.execution import TaskTimeout, run_task

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"TASKQ_JWT_SECRET": "jwt-secret-value",
           "REDIS_URL": "redis://:hunter2@127.0.0.1:6379/0",
           "AWS_SECRET_ACCESS_KEY": "aws-secret-value"}


@pytest.fixture(autouse=True, scope="module")
def reaper():
    """Orphans of a killed group go to init, which in a container may never
    reap them (a zombie still answers kill 0): make this process their
    reaper instead, so group_gone can reap them itself."""
    if not sys.platform.startswith("linux"):
        pytest.skip("process groups are checked on Linux")
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    yield


def group_gone(pgid: int, within: float = 1.0) -> bool:
    """Whether no process of the group is left, zombies reaped."""
    deadline = time.monotonic() + within
    while True:
        try:
            while os.waitpid(-pgid, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


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


# -- process groups --------------------------------------------------------------
def test_closing_its_output_does_not_escape_the_timeout(q, commands, tmp_path):
    pidfile = tmp_path / "pid"
    result, took, _ = run(q, ["sh", "-c", f'echo $$ > {pidfile}; exec >/dev/null 2>&1; sleep 4'],
                          timeout=1)
    pgid = int(pidfile.read_text())
    try:
        assert isinstance(result, TaskTimeout), result
        assert took < 2.0
        assert group_gone(pgid)
    finally:
        kill_group(pgid)


def test_background_children_die_when_the_command_exits(q, commands):
    result, took, lease = run(q, ["sh", "-c", "echo $$; sleep 30 & echo hi"], timeout=1)
    pgid = int(q.logs(lease.id)[0]["message"])
    try:
        assert result == {"exit_code": 0, "output": f"{pgid}\nhi"}
        assert took < 2.0
        assert group_gone(pgid)
    finally:
        kill_group(pgid)


def test_background_children_that_closed_their_output_die_too(q, commands):
    # The pipes close when the shell exits: nothing holds the task, but the
    # sleep would live on.
    result, took, lease = run(q, ["sh", "-c", "echo $$; (exec >/dev/null 2>&1; sleep 30) & "
                                              "echo hi"], timeout=20)
    pgid = int(q.logs(lease.id)[0]["message"])
    try:
        assert result["output"] == f"{pgid}\nhi"
        assert took < 2.0
        assert group_gone(pgid)
    finally:
        kill_group(pgid)


def test_output_written_just_before_exit_is_kept(q, commands):
    result, _, lease = run(q, [sys.executable, "-c",
                               "import sys; [print(i) for i in range(500)]; "
                               "print('last', file=sys.stderr)"])
    assert result["output"] == "\n".join(str(i) for i in range(480, 500))
    logs = [(x["level"], x["message"]) for x in q.logs(lease.id, limit=1000)]
    assert sorted(logs) == sorted([("info", str(i)) for i in range(500)] + [("error", "last")])


def test_a_worker_that_stops_kills_its_running_commands(q, prefix, redis_url, wait_for):
    t = q.enqueue_call(meta={"command": ["sh", "-c", "echo $$; sleep 60 & sleep 60"]})
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
    env.update(REDIS_URL=redis_url, TASKQ_PREFIX=prefix, TASKQ_ALLOW_COMMANDS="1",
               PYTHONPATH=str(ROOT))
    w = subprocess.Popen([sys.executable, "-m", "taskq.cli", "worker", "default"], env=env,
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    pgid = None
    try:
        assert wait_for(lambda: q.logs(t.id), timeout=20)
        pgid = int(q.logs(t.id)[0]["message"])
        w.send_signal(signal.SIGTERM)  # warm: would wait for the task
        time.sleep(1.2)
        w.send_signal(signal.SIGTERM)  # cold: the lease goes back, the worker exits
        assert w.wait(15) == 0
        assert group_gone(pgid, within=2)
        assert q.get(t.id).status == "queued"
    finally:
        if w.poll() is None:
            os.killpg(w.pid, signal.SIGKILL)
            w.wait()
        if pgid:
            kill_group(pgid)
