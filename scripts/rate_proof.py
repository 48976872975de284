#!/usr/bin/env python3
"""Rate limits, measured (docs/rate-limits.md; not part of the suite):

    python scripts/rate_proof.py [--redis-url URL] [--tasks 5000] [--drain 20000] [--runs 3]

1. proof: three `taskq worker` processes drain --tasks tasks of a queue
   limited to 100 starts a second; prints the most starts any one-second
   window held (must be <= 100) and the drain time, first start to last
   (5,000 tasks: the first 100 at once, then 100 a second: 49 s).
2. cost: one `taskq worker` drains --drain unlimited no-op tasks of a queue
   with no limits, then of a queue where 1,000 rate keys (1 start an hour)
   hold 5,000 parked tasks ahead of them, alternating, --runs times; rate =
   tasks / (last finished - first started), from the task hashes. The
   ratio beside/alone should stay >= 0.9.

Every key lives under a prefix of its own (rate-proof-<pid>), removed after.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from taskq import Queue  # noqa: E402
from taskq.rates import busiest_window  # noqa: E402

TASKQ = str(Path(sys.executable).parent / "taskq")


def log(msg: str) -> None:
    print(f"[rate {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def workers(url: str, prefix: str, n: int, *args: str) -> list[subprocess.Popen]:
    env = dict(os.environ, REDIS_URL=url, TASKQ_PREFIX=prefix)
    return [subprocess.Popen([TASKQ, "worker", *args, "default"], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(n)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def fields(client, q: Queue, ids: list[str], name: str) -> list[int]:
    pipe = client.pipeline(transaction=False)
    for tid in ids:
        pipe.hget(q.qkeys.task(tid), name)
    return [int(v) for v in pipe.execute()]


def drain(client, q: Queue, url: str, prefix: str, ids: list[str], procs_args: tuple,
          n_procs: int, want: int) -> tuple[list[int], list[int]]:
    procs = workers(url, prefix, n_procs, *procs_args)
    try:
        deadline = time.monotonic() + 600
        while q.counts()["completed"] < want and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop(procs)
    return fields(client, q, ids, "started"), fields(client, q, ids, "finished")


def proof(client, url: str, prefix: str, tasks: int) -> dict:
    q = Queue("default", redis=client, prefix=prefix)
    q.set_rate_limit("100/s")
    ids = [t.id for t in q.enqueue_many([{"func": "operator:add", "args": [1, 2]}] * tasks)]
    log(f"proof: {tasks} tasks, 100/s, 3 workers")
    starts, _ = drain(client, q, url, prefix, ids, (), 3, tasks)
    q.purge()
    return {"tasks": tasks, "most_in_one_second": busiest_window(starts, 1000),
            "drain_s": (max(starts) - min(starts)) / 1000,
            "expected_s": (tasks - 1) // 100}


def cost(client, url: str, prefix: str, n: int, runs: int) -> dict:
    alone, beside = [], []
    for run in range(runs):
        for kind in ("alone", "beside"):
            q = Queue("default", redis=client, prefix=prefix)
            if kind == "beside":
                for k in range(1000):
                    q.set_rate_limit("1/h", key=f"k{k}")
                q.enqueue_many([{"func": "operator:add", "args": [1, 2], "rate_key": f"k{i % 1000}"}
                                for i in range(5000)])
            ids = [t.id for t in q.enqueue_many([{"func": "operator:add", "args": [1, 2]}] * n)]
            want = n + (1000 if kind == "beside" else 0)
            log(f"cost: run {run + 1}/{runs}, {kind}")
            starts, ends = drain(client, q, url, prefix, ids, ("--concurrency", "8"), 1, want)
            (alone if kind == "alone" else beside).append(n / ((max(ends) - min(starts)) / 1000))
            q.purge()
    a, b = statistics.median(alone), statistics.median(beside)
    return {"alone": alone, "beside": beside, "median_alone": a, "median_beside": b,
            "ratio": b / a}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--drain", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-proof", action="store_true")
    args = ap.parse_args()
    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    prefix = f"rate-proof-{os.getpid()}"
    try:
        if not args.no_proof:
            p = proof(client, args.redis_url, prefix, args.tasks)
            print(f"proof: {p['tasks']} tasks at 100/s through 3 workers: at most "
                  f"{p['most_in_one_second']} starts in any one second (limit 100); drain "
                  f"{p['drain_s']:.2f} s (the limit allows {p['expected_s']} s)")
        c = cost(client, args.redis_url, prefix, args.drain, args.runs)
        print(f"cost: {args.drain} unlimited no-op tasks, one worker: alone "
              f"{c['median_alone']:,.0f}/s {[round(x) for x in c['alone']]}, beside 1,000 limited "
              f"keys holding 5,000 parked tasks {c['median_beside']:,.0f}/s "
              f"{[round(x) for x in c['beside']]}: ratio {c['ratio']:.2f} (goal >= 0.90)")
    finally:
        Queue("default", redis=client, prefix=prefix).purge()
    return 0


if __name__ == "__main__":
    sys.exit(main())
