"""``taskq start`` as a newcomer meets it: the web process on exactly $PORT,
bound to 127.0.0.1 unless told otherwise, an admin key printed once on a
fresh store, a CLI that finds the embedded Redis, and one-line refusals.

Each test starts ``taskq start`` (the repository's Procfile) as a
subprocess with its own state folder, so its own embedded Redis on a free
port, and stops it; the README check runs ``bash scripts/run`` the same way.
A warm start takes 2-4 s; the whole file runs in about 30 s.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from taskq.local.embedded import redis_answers
from taskq.keys import Keys

from local_start_helpers import REPO, http_status, local_starts, shell_env

KEY_LINE = re.compile(r"^\s*API key\s+(tq_\S+)", re.M)


def start_env(state: Path, **extra: str) -> dict:
    return shell_env(state, **extra)


@pytest.fixture
def started(tmp_path):
    yield from local_starts(tmp_path, start_env)


def get(url: str, key: str | None = None) -> int:
    return http_status(url, f"ApiKey {key}" if key else None)


def refused(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, port)) != 0


def taskq_cli(*args: str, state: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "taskq.cli", *args], cwd=REPO,
                          env=start_env(state), capture_output=True, text=True, timeout=60)


def test_first_start_port_bind_key_once_and_cli_finds_redis(started, tmp_path):
    state = tmp_path / "state"
    first = started(state, "first")
    text = first.wait_ready()
    port = first.port
    # exactly $PORT (honcho would have made it PORT + 200), on 127.0.0.1 only
    assert f"API      http://127.0.0.1:{port}/api" in text
    assert f"docs     http://127.0.0.1:{port}/api/docs" in text
    assert f"metrics  http://127.0.0.1:{port}/metrics" in text
    assert get(f"http://127.0.0.1:{port}/health") == 200
    assert refused("127.0.0.2", port)
    assert "REDIS_URL is not set: starting an embedded Redis" in text
    assert "source " in text and "TASKQ_ALLOW_COMMANDS=1" in text

    keys = KEY_LINE.findall(text)
    assert len(keys) == 1, text
    key = keys[0]
    assert get(f"http://127.0.0.1:{port}/api/tasks", key) == 200
    assert get(f"http://127.0.0.1:{port}/api/tasks", key + "x") == 401
    assert get(f"http://127.0.0.1:{port}/api/tasks") == 401

    # `taskq auth` finds the embedded Redis through the URL file, and says so
    url = (state / "redis.url").read_text().strip()
    assert url.startswith("redis://127.0.0.1:") and redis_answers(url)
    listed = taskq_cli("auth", "apikey", "list", state=state)
    assert listed.returncode == 0, listed.stderr
    assert '"name": "local-admin"' in listed.stdout and '"admin"' in listed.stdout
    assert f"using the Redis of taskq start ({url}" in listed.stderr

    assert first.stop() in (0, 143)
    assert not (state / "redis.url").exists()
    assert not redis_answers(url)

    # same store again, on another address: no second key, the way to make one
    again = started(state, "again", TASKQ_BIND="127.0.0.2")
    text = again.wait_ready()
    assert not KEY_LINE.search(text) and "tq_" not in text
    assert "printed on the first start" in text and "taskq auth apikey create" in text
    assert get(f"http://127.0.0.2:{again.port}/health") == 200
    assert refused("127.0.0.1", again.port)
    # the key of the first start still works: the data survived
    assert get(f"http://127.0.0.2:{again.port}/api/tasks", key) == 200


def start_expecting_refusal(env: dict) -> subprocess.CompletedProcess:
    """Run ``taskq start`` that should exit at once; if it starts instead,
    SIGTERM it (it stops its processes) and fail."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskq.cli", "start", "-f", str(REPO / "Procfile")],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"taskq start did not refuse:\n{out}{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_explicit_unreachable_redis_is_refused_in_one_line(tmp_path):
    proc = start_expecting_refusal(start_env(tmp_path, REDIS_URL="redis://127.0.0.1:1/0"))
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "REDIS_URL=redis://127.0.0.1:1/0 does not answer" in lines[0]
    assert not (tmp_path / "redis").exists() and not (tmp_path / "redis.url").exists()


@pytest.mark.parametrize("port", ["abc", "0", "70000"])
def test_bad_port_is_refused_in_one_line(tmp_path, port):
    proc = start_expecting_refusal(start_env(tmp_path, PORT=port))
    assert proc.returncode == 2
    assert f"PORT={port!r}: expected a TCP port" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "redis").exists()


def test_cli_without_a_start_says_which_redis_it_uses(tmp_path):
    listed = taskq_cli("auth", "apikey", "list", "--prefix", "taskq-test-nostart", state=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "REDIS_URL is not set and no taskq start is running here" in listed.stderr
    assert "redis://127.0.0.1:6379/0" in listed.stderr
    client = redis.Redis()  # that Redis: the key-schema version the command recorded
    client.delete(Keys("taskq-test-nostart").schema)
    client.close()


def web_bind(**env: str) -> str:
    """The address:port the Procfile's web line binds, expanded by sh as
    honcho and Heroku do."""
    line = next(l for l in (REPO / "Procfile").read_text().splitlines() if l.startswith("web:"))
    bind = line.split("--bind", 1)[1].split()[0]
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PORT", "TASKQ_BIND", "TASKQ_WEB_PORT")}
    return subprocess.run(["sh", "-c", f"echo {bind}"], env={**clean, **env},
                          capture_output=True, text=True, check=True).stdout.strip()


def test_procfile_web_line_binds_the_platform_port_or_the_start_port():
    assert web_bind(PORT="31000") == "0.0.0.0:31000"                 # Heroku sets PORT per dyno
    assert web_bind() == "0.0.0.0:8000"
    # under taskq start honcho rewrites PORT (+100 per process type); these win
    assert web_bind(PORT="5200", TASKQ_WEB_PORT="8000", TASKQ_BIND="127.0.0.1") == "127.0.0.1:8000"


def test_examples_run_in_process():
    from taskq.examples import add, greet

    assert add(2, 3) == 5
    assert greet("Ada") == "hello, Ada"
    assert greet.taskq_name == "taskq.examples:greet"
    assert greet.queue.name == "default"


def check_readme(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PORT")}
    return subprocess.run([sys.executable, str(REPO / "scripts" / "check_readme.py"), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_readme_quick_start_works_as_written():
    """Runs in the normal suite: about 6 s once .venv is installed (the first
    run in a fresh clone creates it, as `bash scripts/run` does)."""
    done = check_readme()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "works as written" in done.stdout


def test_readme_check_fails_when_an_example_does(tmp_path):
    readme = (REPO / "README.md").read_text()
    assert '"taskq.examples:add", 2, 3' in readme
    broken = tmp_path / "README.md"
    broken.write_text(readme.replace('"taskq.examples:add", 2, 3', '"taskq.examples:missing", 2, 3'))
    done = check_readme("--readme", str(broken), "--walk-timeout", "60")
    assert done.returncode == 1
    assert "the walk failed" in done.stderr and "TaskFailed" in done.stderr
