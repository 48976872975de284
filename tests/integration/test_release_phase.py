"""``taskq start`` and the key schema: the Procfile's ``release`` line runs
once, to its end, before the other lines start (as Heroku's release phase;
honcho alone would run it beside them and stop them all when it exits),
and nothing starts against data of an older schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskq.keys import Keys, TaskDriverKeys, TaskDriverKeysV1

pytestmark = pytest.mark.single_redis  # taskq start's own Redis, or the test's by URL

ROOT = Path(__file__).resolve().parents[2]


def start(tmp_path: Path, procfile: str, **env: str) -> subprocess.CompletedProcess:
    path = tmp_path / "Procfile"
    path.write_text(procfile)
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("TASKQ_", "REDIS_URL", "PORT"))}
    clean.update(TASKQ_STATE_DIR=str(tmp_path / "state"), **env)
    return subprocess.run([sys.executable, "-m", "taskq.cli", "start", "-f", str(path),
                           "--data-dir", str(tmp_path / "redis")],
                          env=clean, cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_the_release_line_runs_once_before_the_others(tmp_path):
    marker = tmp_path / "released"
    done = start(tmp_path, f'release: sh -c "echo released >> {marker}"\n'
                           f'show: sh -c "echo shown after $(cat {marker})"\n')
    assert done.returncode == 0, done.stdout + done.stderr
    assert marker.read_text() == "released\n"
    assert "shown after released" in done.stdout and "release.1" not in done.stdout


def test_a_failing_release_line_starts_nothing(tmp_path):
    done = start(tmp_path, 'release: sh -c "exit 3"\nshow: sh -c "echo SHOWN"\n')
    assert done.returncode == 1
    assert "the release command failed (exit 3); no process started" in done.stderr
    assert "SHOWN" not in done.stdout and "Traceback" not in done.stderr
    assert "stopping the embedded Redis" in done.stdout


def test_start_refuses_data_of_an_older_schema_in_one_line(tmp_path, r, redis_url, prefix):
    r.zadd(TaskDriverKeysV1(prefix).indexes[0], {"p1": 1})
    done = start(tmp_path, 'show: sh -c "echo SHOWN"\n', REDIS_URL=redis_url, TASKQ_PREFIX=prefix)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "key schema 1" in line and "run `taskq migrate`" in line
    assert "SHOWN" not in done.stdout
    assert r.get(Keys(prefix).schema) is None


def test_the_release_line_taskq_migrate_lets_the_processes_start(tmp_path, r, redis_url, prefix):
    r.zadd(TaskDriverKeysV1(prefix).indexes[0], {"p1": 1})
    done = start(tmp_path, 'release: taskq migrate\nshow: sh -c "echo SHOWN"\n',
                 REDIS_URL=redis_url, TASKQ_PREFIX=prefix)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "was 1): moved 1 keys" in done.stdout and "SHOWN" in done.stdout
    assert r.zrange(TaskDriverKeys(prefix).projects, 0, -1) == ["p1"]
