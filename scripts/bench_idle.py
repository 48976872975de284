"""What an idle ``taskq worker`` costs Redis, for scripts/bench.py --issue20.

A worker (the CLI's default --concurrency 8) serving Q queues (100 and
1,000: q0 ... q<Q-1>, all empty) runs on the benchmark's private
redis-server; once it has registered and settled (IDLE_SETTLE s), CONFIG
RESETSTAT, IDLE_WINDOW s of nothing, then INFO commandstats: the commands
the server ran per second, the benchmark's own (INFO, CONFIG) left out.
Then a task is still expected to be picked up at once on any of those
queues: one no-op task at a time on a random queue (PICKUPS samples), the
milliseconds from enqueue to its body starting (bench_worker.stamp).

An idle ``taskq scheduler`` (the leader's upkeep) is measured the same way
over Q known, empty queues: ``python scripts/bench_idle.py --scheduler``.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time

import bench_worker
import taskq
from bench_server import command_calls

QUEUE_COUNTS = (100, 1_000)
IDLE_SETTLE, IDLE_WINDOW = 1.0, 4.0
PICKUPS = 10
CONCURRENCY = 8  # taskq worker's default


def idle_cost(server, queues: int, window: float = IDLE_WINDOW, pickups: int = PICKUPS) -> dict:
    r, prefix = server.client, f"idle{queues}"
    names = [f"q{i}" for i in range(queues)]
    proc = bench_worker.start_worker(server.url, prefix, names, CONCURRENCY)
    try:
        bench_worker.wait_registered(r, taskq.Keys(prefix))
        time.sleep(IDLE_SETTLE)
        r.config_resetstat()
        t = time.monotonic()
        time.sleep(window)
        calls = command_calls(r)
        per_second = calls / (time.monotonic() - t)
        lat, out_key = [], f"{prefix}:bench:stamps"
        for name in random.sample(names, min(pickups, queues)):
            q = taskq.Queue(name, redis=r, prefix=prefix)
            started_at = time.time()
            q.enqueue("bench_worker:stamp", out_key)
            _, stamp = r.blpop([out_key], timeout=10) or (None, None)
            if stamp is None:
                raise RuntimeError(f"a task on {name} was not picked up in 10 s")
            lat.append((float(stamp) - started_at) * 1000)
            time.sleep(0.2)  # idle again
        if proc.poll() is not None:
            raise RuntimeError("the idle worker died")
        return {"queues": queues, "commands_per_s": per_second,
                "pickup_ms_p50": statistics.median(lat), "pickup_ms_max": max(lat)}
    finally:
        bench_worker.stop_worker(proc)
        server.flush()


def run(server, runs: int) -> dict:
    """{queues: {commands_per_s, pickup_ms_p50, ...}} (medians over runs)."""
    out = {}
    for queues in QUEUE_COUNTS:
        rows = [idle_cost(server, queues) for _ in range(runs)]
        out[str(queues)] = {k: statistics.median(row[k] for row in rows) for k in rows[0]}
        out[str(queues)]["runs"] = [row["commands_per_s"] for row in rows]
    return out


def scheduler_idle_cost(server, queues: int, window: float = IDLE_WINDOW) -> float:
    """Commands/s an idle ``taskq scheduler`` (the leader) sends at ``queues``
    known, empty queues; measured after it has run a full sweep."""
    r, prefix = server.client, f"sidle{queues}"
    r.sadd(taskq.Keys(prefix).queues, *[f"q{i}" for i in range(queues)])
    env = dict(os.environ, REDIS_URL=server.url, TASKQ_PREFIX=prefix)
    proc = subprocess.Popen([sys.executable, "-m", "taskq.cli", "scheduler"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        time.sleep(IDLE_SETTLE + 5.0)  # leader elected, the first sweep done
        r.config_resetstat()
        t = time.monotonic()
        time.sleep(window)
        per_second = command_calls(r) / (time.monotonic() - t)
        if proc.poll() is not None:
            raise RuntimeError("the idle scheduler died")
        return per_second
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        server.flush()


if __name__ == "__main__" and "--scheduler" in sys.argv:
    from bench_server import PrivateRedis

    runs = 3
    with PrivateRedis() as srv:
        for n in QUEUE_COUNTS:
            rows = [scheduler_idle_cost(srv, n) for _ in range(runs)]
            print(f"idle taskq scheduler, {n} queues: {statistics.median(rows):.1f} commands/s "
                  f"(median of {runs}: {', '.join(f'{x:.1f}' for x in rows)})")
