"""No process of a shell command outlives its task or its worker, whatever
it does with sessions and groups (Linux: the command supervisor is a child
subreaper). Each command here carries a marker (a sleep duration no other
process uses) and the checks look for any live process whose command line
has it: a fork, a ``setsid`` child, a double-forked daemon, a process that
ignores SIGTERM. Every worker kind is checked, stopped with SIGTERM as
honcho stops it (the whole process group) and killed with SIGKILL, and so
is ``taskq start``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from proc_helpers import alive, gone, kill_marked, marked, wait_alive

from workers.commands import STOP_GRACE_SECONDS, stop_commands
from workers.execution import CommandStopped, TaskTimeout, run_task

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GONE_WITHIN = 8.0
"""Seconds for every process of a command to go once its worker is told or
killed (a busy 2-core machine; it takes a few ms)."""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the command supervisor is Linux's")


@pytest.fixture
def commands(monkeypatch):
    monkeypatch.setenv("TASKQ_ALLOW_COMMANDS", "1")


def run(q, command, timeout=None):
    """Enqueue a command task, claim it and run it here, as a worker does."""
    q.enqueue_call(meta={"command": command}, timeout=timeout, max_retries=0)
    lease = q.claim(1, lease=60)[0]
    start = time.monotonic()
    try:
        return run_task(lease), time.monotonic() - start, lease
    except Exception as exc:
        return exc, time.monotonic() - start, lease


# -- in the worker's process ---------------------------------------------------------
def test_setsid_does_not_escape_the_timeout(q, commands, tmp_path):
    """The reported case: `setsid sh -c "sleep; echo > f"` under a 2 s timeout."""
    mark, escaped = marked(3.0), tmp_path / "escaped"
    started = time.monotonic()
    result, took, _ = run(q, f'setsid sh -c "sleep {mark}; echo escaped > {escaped}"', timeout=2)
    assert isinstance(result, TaskTimeout), result
    assert took < 3.0
    assert alive(mark) == []
    time.sleep(max(0.0, started + float(mark) + 1.0 - time.monotonic()))
    assert not escaped.exists()


def test_forked_away_processes_die_when_the_command_exits(q, commands, tmp_path):
    """A `setsid -f` child and a double-forked daemon: the command's own
    process exits 0 at once, so the task completes; what it left running is
    killed first, and the log says so."""
    mark, escaped = marked(2.0), tmp_path / "escaped"
    command = (f'setsid -f sh -c "sleep {mark}; echo x > {escaped}"; '
               f'(sleep {mark} &); echo started')
    result, took, lease = run(q, ["sh", "-c", command], timeout=30)
    assert result == {"exit_code": 0, "output": "started"}, result
    assert took < 3.0
    assert alive(mark) == []
    logs = [(x["level"], x["message"]) for x in q.logs(lease.id)]
    assert logs[0] == ("info", "started")
    assert logs[1][0] == "warn" and "the command left running" in logs[1][1], logs
    time.sleep(float(mark) + 0.5)
    assert not escaped.exists()


def test_closing_its_output_does_not_escape_the_timeout(q, commands):
    mark = marked(4.0)
    result, took, _ = run(q, ["sh", "-c", f"exec >/dev/null 2>&1; sleep {mark}"], timeout=1)
    assert isinstance(result, TaskTimeout), result
    assert took < 3.0
    assert alive(mark) == []


def test_background_children_that_closed_their_output_die_when_it_exits(q, commands):
    # The pipes close when the shell exits: nothing holds the task, but the
    # sleep would live on.
    mark = marked(30.0)
    result, took, lease = run(q, ["sh", "-c", f"(exec >/dev/null 2>&1; sleep {mark}) & "
                                              f"sleep {mark} & echo hi"], timeout=20)
    assert result == {"exit_code": 0, "output": "hi"}, result
    assert took < 3.0
    assert alive(mark) == []


def test_a_stop_sends_sigterm_then_sigkill_to_every_process(q, commands):
    """stop_commands (a worker's warm stop): SIGTERM to every process of the
    command; one that ignores it is killed STOP_GRACE_SECONDS later."""
    mark = marked(60.0)
    ignores = f'trap "" TERM; echo up; setsid -f sleep {mark}; sleep {mark}'
    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.append(run(q, ["sh", "-c", ignores])))
    runner.start()
    try:
        assert wait_alive(mark, 2)
        asked = time.monotonic()
        assert stop_commands("stopped", graceful=True) == 1
        runner.join(GONE_WITHIN + STOP_GRACE_SECONDS)
        result, _, lease = outcome[0]
        assert isinstance(result, CommandStopped), result
        assert STOP_GRACE_SECONDS * 0.9 <= time.monotonic() - asked < STOP_GRACE_SECONDS + 4
        assert alive(mark) == []
    finally:
        stop_commands("stopped")
        runner.join(10)


# -- worker processes ----------------------------------------------------------------
WORKERS = {
    "taskq worker": lambda url: [str(BIN / "taskq"), "worker", "default"],
    "TaskqWorker": lambda url: [str(BIN / "rq"), "worker", "-w", "workers.rq_worker.TaskqWorker",
                                "--url", url, "default"],
    "TaskqSimpleWorker": lambda url: [str(BIN / "rq"), "worker", "-w",
                                      "workers.rq_worker.TaskqSimpleWorker", "--url", url,
                                      "default"],
    "TaskqPoolWorker": lambda url: [str(BIN / "rq"), "worker", "-w",
                                    "workers.rq_worker.TaskqPoolWorker", "--url", url, "default"],
}


def env_for(redis_url: str, prefix: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
    env.update(REDIS_URL=redis_url, TASKQ_PREFIX=prefix, TASKQ_ALLOW_COMMANDS="1",
               PYTHONPATH=str(ROOT))
    return env


def forking_command(mark: str) -> list[str]:
    """A command whose processes are in three places: itself, a child in a
    session of its own, and a double-forked daemon."""
    return ["sh", "-c", f"echo up; setsid -f sleep {mark}; (sleep {mark} &); sleep {mark}"]


def start_worker(kind, q, redis_url, prefix, tmp_path, mark):
    t = q.enqueue_call(meta={"command": forking_command(mark)}, max_retries=0)
    log = open(tmp_path / "worker.log", "wb")
    w = subprocess.Popen(WORKERS[kind](redis_url), env=env_for(redis_url, prefix), cwd=ROOT,
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    assert wait_alive(mark, 3, while_=lambda: w.poll() is None), \
        (tmp_path / "worker.log").read_text()
    return t, w


def kill_all(w: subprocess.Popen, mark: str) -> None:
    if w.poll() is None:
        os.killpg(w.pid, signal.SIGKILL)
        w.wait()
    kill_marked(mark)


@pytest.mark.parametrize("kind", list(WORKERS))
def test_a_sigterm_stops_the_command_and_gives_its_task_back(kind, q, redis_url, prefix,
                                                            tmp_path):
    """One SIGTERM to the worker's process group (as honcho sends it): the
    command and everything it started are gone, the task is queued again
    with its attempt not counted, and the worker exits on its own."""
    mark = marked(60.0)
    t, w = start_worker(kind, q, redis_url, prefix, tmp_path, mark)
    try:
        os.killpg(w.pid, signal.SIGTERM)
        assert w.wait(STOP_GRACE_SECONDS + 20) == 0, (tmp_path / "worker.log").read_text()
        assert alive(mark) == []
        got = q.get(t.id)
        assert (got.status, got.attempts, got.error) == ("queued", 0, None), \
            (tmp_path / "worker.log").read_text()
    finally:
        kill_all(w, mark)


def test_a_second_sigterm_kills_a_command_that_ignores_the_first(q, redis_url, prefix,
                                                                tmp_path):
    """A cold stop within the grace: the command goes at once, and its task
    is given back before the worker exits."""
    mark = marked(60.0)
    t = q.enqueue_call(meta={"command": ["sh", "-c", f'trap "" TERM; sleep {mark}']})
    log = tmp_path / "worker.log"
    w = subprocess.Popen(WORKERS["taskq worker"](redis_url), env=env_for(redis_url, prefix),
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(log, "wb"),
                         start_new_session=True)
    try:
        assert wait_alive(mark, 2, while_=lambda: w.poll() is None)
        w.send_signal(signal.SIGTERM)  # warm: SIGTERM to the command, which ignores it
        time.sleep(0.5)
        assert [x for x in alive(mark) if x.split()[1] == "sleep"]
        w.send_signal(signal.SIGTERM)  # cold
        assert w.wait(15) == 0
        assert alive(mark) == []
        assert (q.get(t.id).status, q.get(t.id).attempts) == ("queued", 0), log.read_text()
    finally:
        kill_all(w, mark)


@pytest.mark.parametrize("kind", list(WORKERS))
def test_a_sigkilled_worker_leaves_no_process_of_its_command(kind, q, redis_url, prefix,
                                                            tmp_path):
    mark = marked(60.0)
    _, w = start_worker(kind, q, redis_url, prefix, tmp_path, mark)
    try:
        os.killpg(w.pid, signal.SIGKILL)  # a horse has a group of its own: not reached
        w.wait()
        assert gone(mark, GONE_WITHIN), alive(mark)
    finally:
        kill_all(w, mark)


def test_a_cancel_kills_a_running_command(q, redis_url, prefix, tmp_path):
    mark = marked(60.0)
    t, w = start_worker("taskq worker", q, redis_url, prefix, tmp_path, mark)
    try:
        q.cancel(t.id)
        deadline = time.monotonic() + GONE_WITHIN
        while q.get(t.id).status != "cancelled" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert q.get(t.id).status == "cancelled", (tmp_path / "worker.log").read_text()
        assert alive(mark) == []
    finally:
        kill_all(w, mark)


# -- taskq start ---------------------------------------------------------------------
def test_taskq_start_stopped_with_sigterm_leaves_nothing_and_the_task_runs_again(
        q, redis_url, prefix, tmp_path):
    """The reported case: `sleep` running under `taskq start`, which gets
    SIGTERM. Nothing of the command survives, the task is queued again
    (not left to its lease), and after a restart it completes with no
    error on its record."""
    mark, flag = marked(25.0), tmp_path / "ran-once"
    procfile = tmp_path / "Procfile"
    procfile.write_text("worker: taskq worker default\n")
    t = q.enqueue_call(meta={"command": [
        "sh", "-c", f"test -e {flag} && exit 0; touch {flag}; echo up; sleep {mark}"]})
    log = tmp_path / "start.log"
    with open(log, "wb") as out:
        start = subprocess.Popen([sys.executable, "-m", "taskq.cli", "start", "-f", str(procfile)],
                                 env=env_for(redis_url, prefix), cwd=tmp_path, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert wait_alive(mark, 1, within=60, while_=lambda: start.poll() is None), \
            log.read_text()
        start.send_signal(signal.SIGTERM)
        start.wait(STOP_GRACE_SECONDS + 20)
        assert alive(mark) == [], log.read_text()
        got = q.get(t.id)
        assert (got.status, got.error) == ("queued", None), log.read_text()
    finally:
        if start.poll() is None:
            os.killpg(start.pid, signal.SIGKILL)
            start.wait()
        kill_marked(mark)
    again = subprocess.run([str(BIN / "taskq"), "worker", "--burst", "default"],
                           env=env_for(redis_url, prefix), cwd=tmp_path, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    got = q.get(t.id)
    assert (got.status, got.error, got.attempts) == ("completed", None, 1), again.stderr
