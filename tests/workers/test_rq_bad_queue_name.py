"""``rq worker`` with a taskq worker class and a queue name taskq refuses:
one line on stderr and exit 2, as ``taskq worker`` gives, not RQ's logged
traceback; and nothing registered in Redis."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from redis_clients import child_env

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["workers.rq_worker.TaskqWorker", "workers.rq_worker.TaskqSimpleWorker",
           "workers.rq_pool.TaskqPoolWorker"]


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("bad", ["my queue", "td"])
def test_rq_worker_refuses_a_bad_queue_name_in_one_line(redis_url, prefix, r, cls, bad):
    name = f"badq-{uuid.uuid4().hex[:8]}"
    proc = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "-w", cls, "--url", redis_url,
         "--name", name, "--burst", bad],
        cwd=ROOT, env=child_env(TASKQ_PREFIX=prefix, REDIS_URL=redis_url, PYTHONPATH=str(ROOT)),
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(f"taskq: invalid queue {bad!r}: "), proc.stderr
    assert not r.exists(f"rq:worker:{name}")
    assert f"rq:worker:{name}" not in r.smembers("rq:workers")


def test_taskq_worker_says_the_same_line(redis_url, prefix):
    """The two commands refuse a name in the same words."""
    proc = subprocess.run(
        [sys.executable, "-m", "taskq.cli", "worker", "--url", redis_url, "my queue"],
        cwd=ROOT, env=child_env(TASKQ_PREFIX=prefix, REDIS_URL=redis_url),
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("taskq: invalid queue 'my queue': ")
