"""The scheduler: one leader among several, failover, and the upkeep it runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from taskq import maintenance
from taskq.worker_registry import HEARTBEAT_TTL, WorkerRegistry
from taskq.leadership import status
from workers.upkeep import Upkeep

ROOT = Path(__file__).resolve().parents[2]




def test_one_leader_and_takeover_when_it_goes_silent(r, prefix):
    a = Upkeep(r, prefix=prefix, lock_ttl=0.5, scheduler_id="a")
    b = Upkeep(r, prefix=prefix, lock_ttl=0.5, scheduler_id="b")
    assert a.tick() is True and b.tick() is False
    assert a.tick() is True and b.tick() is False  # renewal keeps it
    time.sleep(0.6)  # a stops ticking (died): its lock expires
    assert b.tick() is True and a.tick() is False
    assert status(r, b.keys) == {"leader_id": "b", "instance_count": 2}


def test_leader_runs_the_upkeep_and_standby_does_nothing(r, q, prefix):
    q.enqueue("f", max_retries=2)
    q.claim(1, lease=0.05)
    time.sleep(0.1)
    standby = Upkeep(r, prefix=prefix, scheduler_id="standby")
    r.set(standby.keys.scheduler_leader, "someone-else", px=5000)
    standby.tick()
    assert q.counts()["running"] == 1
    r.delete(standby.keys.scheduler_leader)
    standby.tick()
    assert q.counts()["queued"] == 1


def test_leader_runs_registered_steps(r, prefix, monkeypatch):
    seen = []
    monkeypatch.setattr(maintenance, "UPKEEP", [lambda client, keys: seen.append(keys.prefix)])
    Upkeep(r, prefix=prefix).tick()
    assert seen == [prefix]


def test_silent_worker_is_reported_offline_once(r, keys, prefix):
    reg = WorkerRegistry(r, keys)
    reg.register("w1", ["default"])
    r.zadd(keys.workers, {"w1": int((time.time() - HEARTBEAT_TTL - 1) * 1000)})
    r.hset(keys.worker("w1"), "last_heartbeat", int((time.time() - HEARTBEAT_TTL - 1) * 1000))
    s1, s2 = Upkeep(r, prefix=prefix, scheduler_id="s1"), Upkeep(r, prefix=prefix)
    s1.tick()
    s2.registry.sweep()
    events = [e["event"] for _, e in r.xrange(keys.events)]
    assert events == ["worker.registered", "worker.offline"]
    assert reg.get("w1").status == "offline"
    assert [w.id for w in reg.all(status="offline")] == ["w1"]


def start_scheduler(redis_url, prefix):
    env = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix)
    return subprocess.Popen([sys.executable, "-m", "taskq.cli", "scheduler", "--interval", "0.2"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def test_standby_process_takes_over_after_the_leader_is_killed(r, keys, redis_url, prefix, wait_for):
    procs = [start_scheduler(redis_url, prefix), start_scheduler(redis_url, prefix)]
    try:
        assert wait_for(lambda: r.get(keys.scheduler_leader) is not None)
        leader = r.get(keys.scheduler_leader)
        pids = {p.pid: p for p in procs}
        victim = pids[int(leader.rsplit("-", 1)[1])]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(5)
        killed_at = time.monotonic()
        assert wait_for(lambda: r.get(keys.scheduler_leader) not in (None, leader), timeout=10)
        assert time.monotonic() - killed_at < 8  # lock TTL (5 s) plus an interval
        survivor = next(p for p in procs if p is not victim)
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(10) == 0
        assert r.get(keys.scheduler_leader) is None  # a clean stop gives the lock up
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
