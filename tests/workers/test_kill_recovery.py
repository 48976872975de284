"""A SIGKILLed worker's tasks come back within seconds: a real `taskq worker`
holding one running and fifteen prefetched tasks is killed, and another
worker finishes all of them within a few seconds, not after a 30 s lease
(each claimed task, started or not, is held under the short worker lease
that one call per queue renews)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from taskq.lease import WORKER_LEASE

ROOT = Path(__file__).resolve().parents[2]
T = "tests.workers.outage_tasks"
RECOVERY_BOUND = WORKER_LEASE + 4.0
"""The lease, a reaping pass, and slack for a busy 2-core machine."""


def _worker(redis_url: str, prefix: str, log: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "taskq.cli", "worker", *args, "default"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=open(log, "w"), start_new_session=True)


def test_a_killed_workers_prefetched_tasks_run_elsewhere_within_seconds(
        q, redis_url, prefix, tmp_path, wait_for):
    runs = tmp_path / "runs.txt"
    ids = [q.enqueue(f"{T}:note_run", str(runs), 0.5).id for _ in range(16)]
    doomed = _worker(redis_url, prefix, tmp_path / "doomed.err", "-c", "1", "--prefetch", "16")
    try:
        assert wait_for(lambda: q.redis.zcard(q.qkeys.running) == 16, 20), \
            (tmp_path / "doomed.err").read_text()
        assert wait_for(lambda: runs.exists(), 10)
        os.kill(doomed.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        doomed.wait()
        left = [t for t in ids if q.get(t).status != "completed"]
        assert len(left) >= 14  # most were prefetched, not started
        rescuer = _worker(redis_url, prefix, tmp_path / "rescuer.err", "-c", "16")
        try:
            assert wait_for(lambda: all(q.get(t).status == "completed" for t in ids), 30)
            took = time.monotonic() - killed_at
            rescuer.terminate()
            assert rescuer.wait(15) == 0
        finally:
            if rescuer.poll() is None:
                rescuer.kill()
        assert took < RECOVERY_BOUND, f"recovery took {took:.1f} s"
        reclaimed = [t for t in left if q.get(t).attempts == 2]
        assert sorted(reclaimed) == sorted(left)  # each came back through its expired lease
    finally:
        if doomed.poll() is None:
            doomed.kill()
