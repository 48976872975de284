"""Queue latency (taskq.monitoring.latency): the age of a queue's oldest runnable task,
counted from when it became ready, and whether a live worker serves it."""

from __future__ import annotations

import time

from taskq.monitoring import latency
from taskq.worker_registry import WorkerRegistry


def _latency(r, keys, name="default") -> float:
    return latency.latencies(r, keys, [name])[name]


def _redis_ms(r) -> int:
    s, us = r.time()
    return s * 1000 + us // 1000


def test_empty_queue_has_no_latency(r, keys, q):
    assert _latency(r, keys) == 0.0
    assert latency.queue_latency(r, keys, ["default"]) == {
        "default": {"latency_seconds": 0.0, "served": False}}


def test_latency_grows_with_the_oldest_ready_task(r, keys, q, wait_for):
    task = q.enqueue("app:job")
    first = _latency(r, keys)
    assert 0 <= first < 5
    assert wait_for(lambda: _latency(r, keys) > first)
    # backdate its creation: the latency is its age, whatever its place in line
    r.hset(keys.queue("default").task(task.id), "created", _redis_ms(r) - 120_000)
    assert 119 < _latency(r, keys) < 130


def test_oldest_across_priority_bands_counts(r, keys, q):
    old_low = q.enqueue("app:job", priority=-5)
    q.enqueue("app:job", priority=50)  # served first, but younger
    r.hset(keys.queue("default").task(old_low.id), "created", _redis_ms(r) - 60_000)
    assert 59 < _latency(r, keys) < 70


def test_delayed_task_counts_only_once_due_and_from_its_due_time(r, keys, q):
    delayed = q.enqueue("app:job", delay=3600)
    assert _latency(r, keys) == 0.0  # not due: nobody is late
    # due 30 s ago and not promoted (no claim ran): counts from its due time
    r.zadd(keys.queue("default").delayed, {delayed.id: _redis_ms(r) - 30_000})
    assert 29 < _latency(r, keys) < 40
    # a claim promotes it (and leases a higher-priority task): still from its due time
    urgent = q.enqueue("app:job", priority=100)
    [lease] = q.claim(1)
    assert lease.task.id == urgent.id and q.get(delayed.id).status == "queued"
    assert 29 < _latency(r, keys) < 40


def test_parked_and_running_tasks_do_not_count(r, keys, q):
    q.enqueue("app:job", concurrency_key="acct")
    parked = q.enqueue("app:job", concurrency_key="acct")
    [lease] = q.claim(1)
    assert q.claim(1) == []  # finds the key full: parks the second
    assert q.get(parked.id).status == "queued"
    assert r.zscore(keys.queue("default").queued, parked.id) == float("inf")
    r.hset(keys.queue("default").task(parked.id), "created", _redis_ms(r) - 60_000)
    assert _latency(r, keys) == 0.0


def test_retried_task_counts_from_its_retry(r, keys, q):
    task = q.enqueue("app:job", max_retries=0)
    r.hset(keys.queue("default").task(task.id), "created", _redis_ms(r) - 600_000)
    [lease] = q.claim(1)
    lease.fail("boom")
    assert _latency(r, keys) == 0.0
    q.retry(task.id)
    assert 0 <= _latency(r, keys) < 5  # ready since the retry, not since its creation


def test_served_flips_with_a_live_worker(r, keys, q):
    registry = WorkerRegistry(r, keys)

    def served():
        return latency.queue_latency(r, keys, ["default", "other"])

    assert served()["default"]["served"] is False
    registry.register("w-1", ["default"])
    assert served()["default"]["served"] is True
    assert served()["other"]["served"] is False
    registry.deregister("w-1")  # a clean exit reads offline at once
    assert served()["default"]["served"] is False
    registry.register("w-2", ["default"])
    # silent past the heartbeat TTL: offline
    r.hset(keys.worker("w-2"), "last_heartbeat", int(time.time() * 1000) - 60_000)
    assert served()["default"]["served"] is False


def test_taskq_info_shows_latency_and_served(redis_url, prefix, r, keys, make_queue):
    import json

    from click.testing import CliRunner

    from taskq.cli import main

    task = make_queue("emails").enqueue("app:mail")
    r.hset(keys.queue("emails").task(task.id), "created", _redis_ms(r) - 90_000)
    WorkerRegistry(r, keys).register("w-1", ["other"])

    def run(*args):
        result = CliRunner().invoke(main, [*args, "--url", redis_url, "--prefix", prefix],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    [row] = json.loads(run("info", "--json", "--queue", "emails"))["queues"]
    assert row["served"] is False and 89 < row["latency_seconds"] < 100
    header, line = run("info", "--queue", "emails").splitlines()[:2]
    assert header.split()[-2:] == ["LATENCY", "SERVED"]
    assert line.split()[0] == "emails" and line.split()[-1] == "NO"
    assert line.split()[-2].endswith("s") and float(line.split()[-2][:-1]) > 89
