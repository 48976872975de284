"""Bad worker settings end the process at start with one line naming the
setting, its value and what is expected (exit 2), for every worker kind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAD = [("TASKQ_LEASE", "abc"), ("TASKQ_LEASE", "-5"), ("TASKQ_CONCURRENCY", "0"),
       ("TASKQ_CONCURRENCY", "many"), ("TASKQ_ALLOW_COMMANDS", "maybe"),
       ("TASKQ_COMMAND_ENV", "OK_NAME,not a name"), ("TASKQ_PREFIX", "a{b}")]


def _run(argv, env_extra, redis_url):
    env = dict(os.environ, REDIS_URL=redis_url, **env_extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name,value", BAD)
def test_taskq_worker_refuses_a_bad_setting(name, value, redis_url):
    out = _run([sys.executable, "-m", "taskq.cli", "worker", "--burst", "default"],
               {name: value}, redis_url)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and repr(value) in lines[0], out.stderr


def test_the_rq_worker_class_refuses_a_bad_setting(redis_url):
    rq = str(Path(sys.executable).with_name("rq"))
    out = _run([rq, "worker", "--burst", "--url", redis_url, "-w", "workers.rq_worker.TaskqWorker",
                "default"], {"TASKQ_LEASE": "abc"}, redis_url)
    assert out.returncode == 2
    assert "TASKQ_LEASE='abc' is not valid" in out.stderr and "Traceback" not in out.stderr


def test_good_settings_pass(monkeypatch):
    from workers import settings
    for name, value in [("TASKQ_LEASE", "2.5"), ("TASKQ_CONCURRENCY", "16"),
                        ("TASKQ_ALLOW_COMMANDS", "on"), ("TASKQ_COMMAND_ENV", "AWS_REGION, LANG"),
                        ("TASKQ_PREFIX", "myapp")]:
        monkeypatch.setenv(name, value)
    settings.check()
