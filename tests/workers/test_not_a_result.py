"""A function's return value is the task's result only when it is a value:
a coroutine (an ``async def`` function, ``asyncio:sleep`` included), an
awaitable, a generator or an async generator stands for work that never
ran, and every worker kind fails such a task at once, not retried, naming
the function and why; Python warns of no coroutine left unawaited."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from workers.execution import NotAResult, checked_result, run_task

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T = "tests.workers.pool_tasks"

NOT_VALUES = [  # (func, args, what the error says)
    ("asyncio:sleep", [0.05, "hello"], "a coroutine (from async def sleep)"),
    (f"{T}:async_double", [2], "a coroutine (from async def async_double)"),
    (f"{T}:countdown", [3], "a generator (from countdown"),
    (f"{T}:async_ticks", [2], "an async generator (from async def async_ticks)"),
]

WORKERS = {
    "taskq worker": lambda url: [str(BIN / "taskq"), "worker", "--burst", "default"],
    "TaskqWorker": lambda url: [str(BIN / "rq"), "worker", "-w", "workers.rq_worker.TaskqWorker",
                                "--burst", "--url", url, "default"],
    "TaskqSimpleWorker": lambda url: [str(BIN / "rq"), "worker", "-w",
                                      "workers.rq_worker.TaskqSimpleWorker", "--burst",
                                      "--url", url, "default"],
    "TaskqPoolWorker": lambda url: [str(BIN / "rq"), "worker", "-w",
                                    "workers.rq_worker.TaskqPoolWorker", "--burst",
                                    "--url", url, "default"],
}


def test_a_coroutine_is_refused_and_closed_without_a_warning():
    async def fetch():
        raise AssertionError("never runs")

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(NotAResult, match=r"^app:fetch returned a coroutine \(from async "
                                             r"def .*fetch\), not a value"):
            checked_result("app:fetch", fetch())
        gc.collect()
    assert not [w for w in seen if "never awaited" in str(w.message)]


def test_an_awaitable_that_is_not_a_coroutine_is_refused():
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(NotAResult, match="an awaitable Future"):
            checked_result("app:f", loop.create_future())
    finally:
        loop.close()


@pytest.mark.parametrize("value", [None, 0, "", [], {"a": [1]}, range(3), iter([1]), b"x"])
def test_values_pass_untouched(value):
    assert checked_result("app:f", value) is value


def test_not_retryable(q):
    t = q.enqueue("asyncio:sleep", 0.05, "hello", max_retries=3)
    [lease] = q.claim(1)
    with pytest.raises(NotAResult) as caught:
        run_task(lease)
    assert caught.value.retryable is False
    assert q.get(t.id).status == "running"  # run_task reports nothing itself


@pytest.mark.parametrize("kind", list(WORKERS))
def test_every_worker_kind_fails_them_at_once(kind, q, redis_url, prefix):
    bad = {q.enqueue(func, *args, max_retries=3).id: (func, what)
           for func, args, what in NOT_VALUES}
    good = q.enqueue(f"{T}:incr", f"{prefix}:ran")
    env = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(WORKERS[kind](redis_url), env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert q.get(good.id).status == "completed" and q.redis.get(f"{prefix}:ran") == "1"
    for task_id, (func, what) in bad.items():
        got = q.get(task_id)
        assert (got.status, got.attempts, got.result) == ("failed", 1, None), (func, got.error)
        assert got.error.startswith(f"NotAResult: {func} returned {what}"), got.error
    assert "never awaited" not in out.stderr
