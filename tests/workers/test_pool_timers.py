"""The pool worker's timers and idle cost: a delayed task or a retry starts at
its due time, not at a once-a-second pass; an idle worker's Redis commands
do not grow with the number of queues it serves, and it still picks up a
task on any of them at once."""

from __future__ import annotations

import random
import threading
import time

import pytest
import redis

from taskq import Queue
from taskq.local.embedded import start_server
from workers.pool import PoolWorker

T = "tests.workers.pool_tasks"
LATE = 0.3
"""Seconds after its due time a task may start here (a loaded 2-core
machine); a once-a-second pass is about 0.5 s late on average."""


@pytest.fixture(autouse=True)
def task_redis(redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)


class Running:
    """A PoolWorker in a thread of this process, stopped at exit."""

    def __init__(self, client, queues, prefix):
        self.worker = PoolWorker(client, queues, concurrency=2, prefix=prefix)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def __enter__(self) -> PoolWorker:
        self.thread.start()
        time.sleep(0.5)  # registered, first claims done, waiting
        return self.worker

    def __exit__(self, *exc) -> None:
        self.worker.request_stop()
        self.thread.join(10)
        assert not self.thread.is_alive()


def started_late(q: Queue, task, timeout: float = 10.0) -> float:
    """Seconds between the task's due time (its delay, or its retry's
    backoff: scheduled_at) and its body starting (the bodies here return
    the time they ran)."""
    ran = task.wait(timeout=timeout)
    return ran - q.get(task.id).scheduled_at.timestamp()


def test_the_wait_ends_at_the_next_delayed_task_due_time(r, q, prefix):
    with Running(r, ["default"], prefix) as w:
        q.enqueue(f"{T}:now", delay=5)
        time.sleep(0.3)  # the enqueue's wake token: the worker claimed and learned the due time
        assert 4.0 < w._plan.until_due(60.0) <= 5.0  # not a one-second poll


def test_delayed_tasks_start_at_their_due_time(r, q, prefix):
    with Running(r, ["default"], prefix):
        for _ in range(3):
            assert started_late(q, q.enqueue(f"{T}:now", delay=0.4)) < LATE


def test_a_retry_starts_when_its_backoff_ends(r, q, prefix):
    with Running(r, ["default"], prefix):
        for i in range(3):
            task = q.enqueue(f"{T}:fail_once_then_now", f"{prefix}:tries{i}", max_retries=1,
                             backoff="fixed", backoff_base=0.4)
            assert started_late(q, task) < LATE
            assert q.get(task.id).attempts == 2


def test_a_delayed_task_on_one_of_many_queues_starts_at_its_due_time(r, prefix):
    names = [f"q{i}" for i in range(50)]
    with Running(r, names, prefix):
        for name in random.sample(names, 2):
            q = Queue(name, redis=r, prefix=prefix)
            assert started_late(q, q.enqueue(f"{T}:now", delay=0.5)) < LATE


@pytest.fixture
def private():
    """A redis-server of this test's own: INFO commandstats counts only the worker."""
    server = start_server(persistent=False)
    client = redis.Redis.from_url(server.url, decode_responses=True)
    yield server.url, client
    client.close()
    server.stop()


def commands(client) -> int:
    return sum(int(v["calls"]) for k, v in client.info("commandstats").items()
               if k.split("|")[0] not in ("cmdstat_info", "cmdstat_config"))


def test_an_idle_worker_on_many_queues_sends_few_commands_and_wakes_for_any(private, monkeypatch):
    url, private = private
    monkeypatch.setenv("REDIS_URL", url)  # the tasks' own client
    names = [f"q{i}" for i in range(300)]
    with Running(private, names, "idle"):
        time.sleep(0.5)
        private.config_resetstat()
        time.sleep(3.0)
        per_second = commands(private) / 3.0
        assert per_second <= 20, per_second  # claiming every queue each second: ~1,400
        for name in random.sample(names, 3):
            q = Queue(name, redis=private, prefix="idle")
            t = time.time()
            assert q.enqueue(f"{T}:now").wait(timeout=5) - t < 0.1


def test_a_busy_worker_with_room_takes_a_task_on_another_queue_at_once(r, prefix):
    """It listens to the wake keys while its tasks run (a claim only of the
    queue woken), not only once a task ends or a second passed."""
    slow, other = (Queue(n, redis=r, prefix=prefix) for n in ("slow", "other"))
    with Running(r, ["slow", "other"], prefix):
        running = slow.enqueue(f"{T}:sleep_then_incr", 3.0, f"{prefix}:s", f"{prefix}:d")
        deadline = time.monotonic() + 5
        while r.get(f"{prefix}:s") != "1":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for _ in range(3):
            t = time.time()
            assert other.enqueue(f"{T}:now").wait(timeout=5) - t < LATE
        assert slow.get(running.id).status == "running"


def test_a_claim_says_when_its_queue_next_needs_one(r, q, prefix):
    """The claim script's reply: ms to the earliest delayed task's due time
    or lease expiry (a reap 1 ms past it), -1 with neither."""
    from taskq.lease import complete_and_claim

    def next_ms() -> int:
        due: dict[str, int] = {}
        complete_and_claim(r, q.keys, [], ["default"], 1, 60.0, "w", due=due)  # nothing ready
        return due["default"]

    assert next_ms() == -1
    q.enqueue(f"{T}:now", delay=30)
    assert 29_000 < next_ms() <= 30_000
    q.enqueue(f"{T}:now")
    held = q.claim(1, lease=10)
    assert len(held) == 1
    assert 9_000 < next_ms() <= 10_001  # the lease expires before the delayed task is due
    held[0].complete()
    assert 29_000 < next_ms() <= 30_000
