"""Worker measurements for scripts/bench.py, and the tasks they run.

A real ``taskq worker`` process (the fast pool worker) is started against
the benchmark's key prefix, with this folder on its PYTHONPATH so it can
import ``bench_worker:noop`` and ``bench_worker:stamp``.

  drain    a paused queue is filled with no-op tasks, the worker starts and
           registers, the queue is resumed (which wakes it), and the clock
           runs until every task is completed.
  pickup   with the worker idle (blocked on the queue's wake key), one task
           at a time is enqueued; the task pushes the time it started to a
           list the benchmark waits on: pickup = start - enqueue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import taskq
from taskq.connection import get_redis

HERE = os.path.dirname(os.path.abspath(__file__))


def noop() -> None:
    return None


def stamp(key: str) -> None:
    get_redis().rpush(key, repr(time.time()))


def fail_once(key: str) -> None:
    """Pushes the time each attempt starts; the first one then fails (the
    retry-timer measurement of bench_peers)."""
    if get_redis().rpush(key, repr(time.time())) == 1:
        raise RuntimeError("the first attempt fails, on purpose")


def start_worker(url: str, prefix: str, queue: str | list[str], concurrency: int,
                 prefetch: int | None = None) -> subprocess.Popen:
    """A ``taskq worker`` process serving ``queue`` (a name, or names in the
    order the worker asks them)."""
    queues = [queue] if isinstance(queue, str) else list(queue)
    env = dict(os.environ, REDIS_URL=url, TASKQ_PREFIX=prefix,
               PYTHONPATH=os.pathsep.join([HERE, os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    extra = ["--prefetch", str(prefetch)] if prefetch else []
    return subprocess.Popen([sys.executable, "-m", "taskq.cli", "worker", "--concurrency",
                             str(concurrency), *extra, *queues], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def wait_registered(r, keys: taskq.Keys, timeout: float = 20.0, count: int = 1) -> None:
    """Until ``count`` workers are registered, and a moment more."""
    deadline = time.monotonic() + timeout
    while r.zcard(keys.workers) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the benchmark worker did not register")
        time.sleep(0.05)
    time.sleep(0.3)  # let it reach its blocking wait


def stop_worker(*procs: subprocess.Popen) -> None:
    """Warm stop (one SIGTERM each, all at once: a second would be a cold
    stop), SIGKILL for any still running 15 s later."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def drain(r, url: str, prefix: str, q: taskq.Queue, n: int, concurrency: int, chunk: int,
          prefetch: int | None = None, processes: int = 1, busy: list | None = None) -> float:
    """No-op tasks per second drained by ``processes`` worker processes;
    ``busy`` (a list) gets the Redis server's busy % over the drain."""
    q.pause()
    for i in range(0, n, chunk):
        q.enqueue_many([{"func": "bench_worker:noop"} for _ in range(min(chunk, n - i))])
    procs = [start_worker(url, prefix, q.name, concurrency, prefetch) for _ in range(processes)]
    try:
        wait_registered(r, q.keys, count=processes)
        cpu, t = redis_cpu(r), time.perf_counter()
        q.resume()
        while q.count("completed") < n:
            if any(proc.poll() is not None for proc in procs):
                raise RuntimeError("a benchmark worker died")
            time.sleep(0.01)
        elapsed = time.perf_counter() - t
        if busy is not None:
            busy.append(100 * (redis_cpu(r) - cpu) / elapsed)
        return n / elapsed
    finally:
        stop_worker(*procs)


def redis_cpu(r) -> float:
    """CPU seconds the Redis server has used (user + system)."""
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def pickup(r, url: str, prefix: str, q: taskq.Queue, samples: int) -> list[float]:
    """Milliseconds from enqueue to the task body starting, on an idle worker."""
    proc = start_worker(url, prefix, q.name, 1)
    out_key = f"{prefix}:bench:stamps"
    try:
        wait_registered(r, q.keys)
        latencies = []
        for _ in range(samples):
            t = time.time()
            q.enqueue("bench_worker:stamp", out_key)
            _, started = r.blpop([out_key], timeout=10) or (None, None)
            if started is None:
                raise RuntimeError("the benchmark worker did not run a task")
            latencies.append((float(started) - t) * 1000)
            time.sleep(0.01)  # back to idle: blocked on the wake key
        return latencies
    finally:
        stop_worker(proc)
