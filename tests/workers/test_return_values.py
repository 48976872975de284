"""What a task function returns becomes its result, on every worker kind:
an ``async def`` function's coroutine (``asyncio:sleep`` included) is run
to its end and its value is the result; a generator or an async generator
stands for work that never ran, and every worker kind fails such a task at
once, not retried, naming the function and why."""

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

AWAITED = [  # (func, args, result)
    ("asyncio:sleep", [0.05, "hello"], "hello"),
    (f"{T}:async_double", [2], 4),
    (f"{T}:plain_returning_coroutine", [5], 10),
]
NOT_VALUES = [  # (func, args, what the error says)
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
    t = q.enqueue(f"{T}:countdown", 3, max_retries=3)
    [lease] = q.claim(1)
    with pytest.raises(NotAResult) as caught:
        run_task(lease)
    assert caught.value.retryable is False
    assert q.get(t.id).status == "running"  # run_task reports nothing itself


def test_run_task_awaits_a_coroutine_on_one_loop_per_process(q):
    """rq's classes call run_task: one event loop serves every job of the
    process, and the task's context reaches the coroutine."""
    ids = [q.enqueue(f"{T}:loop_and_task_id").id for _ in range(3)]
    loops = set()
    for lease in q.claim(3):
        loop_id, seen_task = run_task(lease)
        assert seen_task == lease.id
        loops.add(loop_id)
    assert len(loops) == 1 and len(ids) == 3


def test_a_job_timeout_inside_a_coroutine_leaves_nothing_running(q):
    """An exception raised into the loop from outside (rq's job timeout is a
    signal) ends that job's coroutine for good: the next job's loop does
    not resume it."""
    import signal

    from workers.coroutines import run_in_process_loop

    class Timeout(Exception):
        pass

    def alarm(*_):
        raise Timeout()

    old = signal.signal(signal.SIGALRM, alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(Timeout):
            run_in_process_loop(asyncio.sleep(5))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)

    async def tasks_left():
        return len(asyncio.all_tasks()) - 1

    assert run_in_process_loop(tasks_left()) == 0


@pytest.mark.parametrize("kind", list(WORKERS))
def test_every_worker_kind_awaits_coroutines_and_fails_generators(kind, q, redis_url, prefix):
    bad = {q.enqueue(func, *args, max_retries=3).id: (func, what)
           for func, args, what in NOT_VALUES}
    awaited = {q.enqueue(func, *args).id: result for func, args, result in AWAITED}
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
    for task_id, result in awaited.items():
        got = q.get(task_id)
        assert (got.status, got.result) == ("completed", result), got.error
    assert "never awaited" not in out.stderr
