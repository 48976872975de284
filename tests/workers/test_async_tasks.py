"""async def tasks on the pool worker's event loop: results beside plain
functions, each coroutine's own current_task(), failures and retries,
timeouts and cancel requests that cancel the coroutine, the concurrency
limit, a warning naming a task that blocks the loop, SIGTERM with
coroutines in flight (a second one gives them back), and a worker
SIGKILLed with 500 coroutines in flight losing none."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest

from tests.workers import async_tasks
from tests.workers.proc_helpers import start_worker
from workers.pool import PoolWorker

A = "tests.workers.async_tasks"


@pytest.fixture(autouse=True)
def task_redis(redis_url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)


def run_burst(r, prefix, queues=("default",), **options) -> PoolWorker:
    w = PoolWorker(r, list(queues), prefix=prefix, **options)
    w.run(burst=True)
    return w


class Running:
    """A PoolWorker in a thread, stopped (warm) on exit."""

    def __init__(self, r, prefix, **options):
        self.worker = PoolWorker(r, ["default"], prefix=prefix, **options)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def __enter__(self) -> PoolWorker:
        self.thread.start()
        return self.worker

    def __exit__(self, *exc) -> None:
        self.worker.request_stop()
        self.thread.join(30)
        assert not self.thread.is_alive()


def test_coroutines_and_plain_functions_share_a_queue(r, q, prefix):
    coros = [q.enqueue(f"{A}:double_later", i) for i in range(300)]
    plain = [q.enqueue("operator:add", i, 1) for i in range(50)]
    w = run_burst(r, prefix)
    assert [q.get(t.id).result for t in coros] == [2 * i for i in range(300)]
    assert [q.get(t.id).result for t in plain] == [i + 1 for i in range(50)]
    assert (w.completed, w.failed) == (350, 0)


def test_each_coroutine_sees_its_own_current_task(r, q, prefix):
    tasks = [q.enqueue(f"{A}:my_id_after_a_while") for _ in range(200)]
    run_burst(r, prefix)
    assert [q.get(t.id).result for t in tasks] == [t.id for t in tasks]


def test_checkpoints_and_logs_from_a_coroutine(r, q, prefix):
    t = q.enqueue(f"{A}:checkpoint_and_log", 3)
    run_burst(r, prefix)
    got = q.get(t.id)
    assert (got.status, got.result, got.checkpoint) == ("completed", 3, {"n": 3})
    assert [line["message"] for line in q.logs(t.id)] == ["added 3"]


def test_an_exception_is_retried_by_its_policy_then_fails(r, q, prefix):
    t = q.enqueue(f"{A}:raise_value_error", "no such user", max_retries=2, backoff="fixed",
                  backoff_base=0)
    run_burst(r, prefix)
    got = q.get(t.id)
    assert (got.status, got.attempts) == ("failed", 3)
    assert got.error == "ValueError: no such user"


def test_a_timeout_cancels_the_coroutine_then_the_retry_policy_applies(r, q, prefix):
    key = f"{prefix}:cancelled"
    t = q.enqueue(f"{A}:sleep_noting_cancel", 30, key, timeout=0.3, max_retries=1,
                  backoff="fixed", backoff_base=0)
    run_burst(r, prefix)
    got = q.get(t.id)
    assert (got.status, got.attempts) == ("failed", 2)
    assert got.error.startswith("TaskTimeout: task ran past its timeout of 0.3 s")
    assert r.get(key) == "2"  # CancelledError reached the coroutine in each attempt


def test_a_cancel_request_cancels_the_coroutine(r, q, prefix, wait_for):
    key = f"{prefix}:cancelled"
    t = q.enqueue(f"{A}:sleep_noting_cancel", 60, key)
    with Running(r, prefix):
        assert wait_for(lambda: q.get(t.id).status == "running")
        assert q.cancel(t.id) == "cancel_requested"
        assert wait_for(lambda: q.get(t.id).status == "cancelled")
    assert r.get(key) == "1"
    assert "cancel requested" in q.get(t.id).error


def test_at_most_async_concurrency_coroutines_run_at_once(r, q, prefix):
    async_tasks.running = async_tasks.most_running = 0
    tasks = [q.enqueue(f"{A}:count_running", 0.05) for _ in range(40)]
    run_burst(r, prefix, async_concurrency=5)
    assert all(q.get(t.id).status == "completed" for t in tasks)
    assert async_tasks.most_running == 5


def test_a_task_blocking_the_loop_is_named_with_how_long(r, q, prefix, caplog):
    t = q.enqueue(f"{A}:block_the_loop", 0.4)
    with caplog.at_level(logging.WARNING, logger="taskq.worker"):
        run_burst(r, prefix)
    assert q.get(t.id).result == "blocked"
    [line] = [m for m in caplog.messages if "blocked the event loop" in m]
    assert t.id in line and "block_the_loop" in line
    seconds = float(line.split("for ")[1].split(" s")[0])
    assert 0.3 <= seconds < 5


def test_sigterm_lets_coroutines_in_flight_finish(r, q, prefix, redis_url, wait_for):
    started, done = f"{prefix}:started", f"{prefix}:done"
    tasks = [q.enqueue(f"{A}:started_then_done", 1.0, started, done) for _ in range(50)]
    w = start_worker(redis_url, prefix, "default")
    try:
        assert wait_for(lambda: r.get(started) == "50", timeout=30)
        w.send_signal(signal.SIGTERM)
        assert w.wait(30) == 0
    finally:
        if w.poll() is None:
            os.killpg(w.pid, signal.SIGKILL)
    assert all(q.get(t.id).status == "completed" for t in tasks)
    assert len(r.hgetall(done)) == 50


def test_a_second_signal_gives_coroutines_back(r, q, prefix, redis_url, wait_for):
    started, done = f"{prefix}:started", f"{prefix}:done"
    tasks = [q.enqueue(f"{A}:started_then_done", 60, started, done) for _ in range(20)]
    w = start_worker(redis_url, prefix, "default")
    try:
        assert wait_for(lambda: r.get(started) == "20", timeout=30)
        w.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # two signals, not one: the first starts a warm stop
        w.send_signal(signal.SIGTERM)
        assert w.wait(15) == 0
    finally:
        if w.poll() is None:
            os.killpg(w.pid, signal.SIGKILL)
    got = [q.get(t.id) for t in tasks]
    assert {(g.status, g.attempts) for g in got} == {("queued", 0)}
    assert not r.hgetall(done)


def test_a_sigkilled_worker_with_500_coroutines_in_flight_loses_none(
        r, q, prefix, redis_url, wait_for):
    started, done = f"{prefix}:started", f"{prefix}:done"
    # 10 s each: all 500 are started long before any could end, on a busy machine too
    tasks = [q.enqueue(f"{A}:started_then_done", 10.0, started, done) for _ in range(500)]
    a = start_worker(redis_url, prefix, "--lease", "1", "--async-concurrency", "1000", "default")
    b = a
    try:
        assert wait_for(lambda: int(r.get(started) or 0) >= 500, timeout=60)
        os.killpg(a.pid, signal.SIGKILL)
        ended_on_a = set(r.hgetall(done))  # none, unless the machine was very slow
        a.wait(5)
        b = start_worker(redis_url, prefix, "--lease", "1", "--async-concurrency", "1000",
                         "default")
        assert wait_for(lambda: q.counts()["completed"] == 500, timeout=90)
        b.send_signal(signal.SIGTERM)
        assert b.wait(30) == 0
    finally:
        for p in (a, b):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    got = {t.id: q.get(t.id) for t in tasks}
    assert {g.status for g in got.values()} == {"completed"}
    assert r.hgetall(done) == {t.id: "1" for t in tasks}  # each body ended once
    for task_id, g in got.items():  # killed mid-run: run again elsewhere; ended before: not
        assert g.attempts == (1 if task_id in ended_on_a else 2), task_id
    assert int(r.get(started)) == 1000 - len(ended_on_a)


@pytest.mark.parametrize("fail", [False, True])
def test_an_async_def_workflow_step_is_awaited_and_counted(r, prefix, fail):
    from taskq.workflows import Registry, engine

    reg = Registry()
    reg.register({"namespace": "t", "name": "async", "version": "1.0.0", "step_templates": [
        {"name": "only", "handler_class": f"{A}.async_step", "default_retryable": False}]})
    wf = engine.create(r, "t.async", context={"n": 4, "fail": fail}, registry=reg, prefix=prefix)
    run_burst(r, prefix, queues=("workflows",))
    got = engine.get(r, wf["id"], prefix=prefix)
    [step] = got["steps"]
    if fail:
        assert got["status"] == "error" and "on purpose" in (step.get("error") or "")
    else:
        assert got["status"] == "complete" and step["results"] == {"n": 40}
