#!/usr/bin/env python3
"""The goals of "asyncio end to end": scripts/bench.py --async / --async-only,
or alone:

    python scripts/bench_async.py [--redis-url URL] [--quick] [--json] [--no-peers]

  I/O drain   N tasks that each ``await asyncio.sleep(0.05)``
              (bench_async_tasks:sleep50), drained by one ``taskq worker
              --async-concurrency 1000``, beside arq (max_jobs=1000) and SAQ
              (concurrency 1000), one worker process each, on the same Redis
              (scripts/bench_async_peers.py, in a virtualenv of their own).
              Goals: >= 10,000 tasks/s and >= 2x arq.
  no-op drain the CPU-free drain: N no-op ``async def`` tasks (the same
              worker settings) against N no-op plain ones (--concurrency 8),
              one worker each; the ratio async/plain.

Each taskq drain pre-fills a queue under the run's key prefix (TASKQ_PREFIX
for the worker), starts the worker, polls the completed count every 10 ms
until all N are, and reads every task's ``started`` (its first claim) and
``finished`` back: rate = N / (max finished - min started), the peers'
measure (their first job body to their last; bench_async_peers). The polled
rate (first task seen running to all completed) is kept in the JSON as a
cross-check. Retention stays at the default: only ``taskq scheduler``
enforces it, and none visits this prefix, so all N are there to be read; a
keep_completed would add an expiry write per completion that neither the
peers nor bench.py's no-op drain pay. Each queue is purged after its run.

N = 10,000 and 3 runs, taskq, arq and SAQ alternating, medians shown (ratios
are taken within each run); --quick: 1 run, N = 2,000. A scenario that fails
(a worker that exits, a task that fails) is reported and the others go on;
one that failed slowly (a timeout) is not run again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import taskq  # noqa: E402
import bench_async_peers  # noqa: E402  (scripts/ is this file's folder)
import bench_worker  # noqa: E402

FULL, QUICK = dict(runs=3, n=10_000), dict(runs=1, n=2_000)
CHUNK = 1000
ASYNC_ARGS = ("--async-concurrency", str(bench_async_peers.CONCURRENCY))
PLAIN_ARGS = ("--concurrency", "8")
SLOW_FAILURE = 10.0
"""Seconds: a scenario whose failure took longer (a timeout) is not run again."""
# key: (label, unit, target as (">=", value) or None)
ROWS = {
    "io_taskq": ("I/O drain, taskq --async-concurrency 1000", "tasks/s", (">=", 10_000)),
    "io_arq": ("I/O drain, arq max_jobs=1000", "tasks/s", None),
    "io_saq": ("I/O drain, SAQ concurrency=1000", "tasks/s", None),
    "io_ratio_arq": ("I/O drain ratio taskq/arq", "x", (">=", 2.0)),
    "io_ratio_saq": ("I/O drain ratio taskq/SAQ", "x", None),
    "noop_async": ("no-op drain, async def, the same worker", "tasks/s", None),
    "noop_plain": ("no-op drain, plain def, --concurrency 8", "tasks/s", None),
    "noop_ratio": ("no-op drain ratio async/plain", "x", None),
}
TASKQ_SCENARIOS = {"io_taskq": ("bench_async_tasks:sleep50", ASYNC_ARGS),
                   "noop_async": ("bench_async_tasks:noop_async", ASYNC_ARGS),
                   "noop_plain": ("bench_async_tasks:noop", PLAIN_ARGS)}
RATIOS = {"io_ratio_arq": ("io_taskq", "io_arq"), "io_ratio_saq": ("io_taskq", "io_saq"),
          "noop_ratio": ("noop_async", "noop_plain")}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def last_line(text: str) -> str:
    """What a failed process said last (click's error, an exception)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(nothing on stderr)"


def taskq_drain(r, url: str, prefix: str, name: str, func: str, n: int, args) -> dict:
    """One worker process drains N pre-filled ``func`` tasks; see the module doc."""
    q = taskq.Queue(name, redis=r, prefix=prefix)
    for i in range(0, n, CHUNK):  # max_retries=0: a task that fails says so at once
        q.enqueue_many([{"func": func, "max_retries": 0}] * min(CHUNK, n - i))
    env = dict(os.environ, REDIS_URL=url, TASKQ_PREFIX=prefix,
               PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "taskq.cli", "worker", name, *args, "-P", HERE],
                            env=env, stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
    try:
        seen = None
        deadline = time.monotonic() + 60 + n * 0.01
        while True:
            counts = q.counts()
            if seen is None and counts["queued"] < n:
                seen = time.perf_counter()
            if counts["completed"] >= n:
                polled = n / (time.perf_counter() - seen)
                break
            if counts["failed"]:
                raise RuntimeError(f"{func} failed: {q.list('failed', limit=1)[0].error}")
            if proc.poll() is not None or time.monotonic() > deadline:
                errors.seek(0)
                raise RuntimeError(f"taskq worker {' '.join(args)}: exit {proc.poll()}, "
                                   f"{counts['completed']}/{n} completed: "
                                   f"{last_line(errors.read().decode(errors='replace'))}")
            time.sleep(0.01)
        first, last, read = float("inf"), 0.0, 0
        for offset in range(0, n, 1000):
            for task in q.list("completed", offset=offset, limit=1000):
                first = min(first, task.started_at.timestamp())
                last = max(last, task.finished_at.timestamp())
                read += 1
        if read != n:
            raise RuntimeError(f"read {read} completed tasks back, not {n}")
        return {"rate": n / (last - first), "window_s": last - first, "polled_rate": polled}
    finally:
        bench_worker.stop_worker(proc)
        q.purge()


def peer_drain(py: str, peer: str, n: int, url: str, tag: str) -> dict:
    out = subprocess.run([py, os.path.join(HERE, "bench_async_peers.py"), peer, str(n), tag],
                         env=dict(os.environ, BENCH_REDIS_URL=url), capture_output=True, text=True,
                         timeout=300 + n * 0.05)
    if out.returncode:
        raise RuntimeError(f"{peer}: exit {out.returncode}: {last_line(out.stderr)}")
    return json.loads(out.stdout)


def run(r, url: str, prefix: str, quick: bool = False, peers: bool = True) -> dict:
    """Every scenario, ``runs`` times alternating; medians, runs and errors."""
    sizes = QUICK if quick else FULL
    n, started = sizes["n"], time.perf_counter()
    py = bench_async_peers.peers_python() if peers else None
    raw: dict[str, list[float]] = {k: [] for k in ROWS}
    detail: dict[str, list[dict]] = {}
    errors: dict[str, str] = {}
    slow: set[str] = set()

    def attempt(key: str, measure) -> float | None:
        if key in slow:
            return None
        t = time.monotonic()
        try:
            out = measure()
        except Exception as exc:  # noqa: BLE001  (reported, the others go on)
            errors[key] = str(exc)
            log(f"    {key} failed: {exc}")
            if time.monotonic() - t > SLOW_FAILURE:
                slow.add(key)
            return None
        raw[key].append(out["rate"])
        detail.setdefault(key, []).append(out)
        return out["rate"]

    for i in range(sizes["runs"]):
        log(f"  async: run {i + 1}/{sizes['runs']}, N = {n:,}")
        got: dict[str, float | None] = {}
        for key in ("io_taskq", "io_arq", "io_saq", "noop_async", "noop_plain"):
            if key in TASKQ_SCENARIOS:
                func, args = TASKQ_SCENARIOS[key]
                got[key] = attempt(key, lambda: taskq_drain(r, url, prefix, f"async-{key}-{i}",
                                                            func, n, args))
            elif py:
                peer = key.split("_")[1]
                got[key] = attempt(key, lambda: peer_drain(py, peer, n, url, f"{prefix}-{peer}{i}"))
        for key, (a, b) in RATIOS.items():  # within the run
            if got.get(a) and got.get(b):
                raw[key].append(got[a] / got[b])
    results = {}
    for key, (label, unit, target) in ROWS.items():
        median = statistics.median(raw[key]) if raw[key] else None
        results[key] = {"label": label, "unit": unit, "median": median, "runs": raw[key],
                        "target": f"{target[0]} {target[1]}" if target else None,
                        "meets": None if median is None or not target else median >= target[1]}
    return {"redis_version": r.info("server")["redis_version"], "n": n, "runs": sizes["runs"],
            "quick": quick, "results": results, "detail": detail, "errors": errors,
            "peers": json.loads(subprocess.run([py, bench_async_peers.__file__, "versions"],
                                               capture_output=True, text=True).stdout) if py else None,
            "elapsed_s": time.perf_counter() - started}


def fmt(value: float, unit: str) -> str:
    return f"{value:.2f}" if unit == "x" else f"{value:,.0f}"


def print_table(data: dict) -> None:
    peers = data["peers"]
    print(f"\nasyncio end to end: N = {data['n']:,} tasks, {data['runs']} run(s) each, median "
          f"shown; Redis {data['redis_version']}; "
          + (f"arq {peers['arq']}, SAQ {peers['saq']} (redis-py {peers['redis']})" if peers
             else "no peers"))
    head = f"{'measurement':42} {'median':>10}  {'unit':8} {'target':14} runs"
    print(head)
    print("-" * (len(head) + 16))
    for key, row in data["results"].items():
        if row["median"] is None:
            print(f"{row['label']:42} {'n/a':>10}  {row['unit']:8} "
                  f"{'(failed)' if key in data['errors'] else ''}")
            continue
        target = ""
        if row["target"]:
            op, goal = row["target"].split()
            target = f"{op} {fmt(float(goal), row['unit'])} {'ok' if row['meets'] else 'MISS'}"
        runs = "  ".join(fmt(v, row["unit"]) for v in row["runs"])
        print(f"{row['label']:42} {fmt(row['median'], row['unit']):>10}  {row['unit']:8} "
              f"{target:14} {runs}")
    print("rate = N / (last task finished - first task started), one worker process each; "
          "taskq from its task hashes, arq and SAQ from their jobs' own clocks")
    for key, text in data["errors"].items():
        print(f"{key} failed: {text}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    ap.add_argument("--quick", action="store_true", help="1 run, N = 2,000")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--no-peers", action="store_true", help="taskq only (nothing is installed)")
    args = ap.parse_args()
    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    prefix = f"taskq-bench-{os.getpid()}-{os.urandom(3).hex()}"
    log(f"taskq async bench: key prefix {prefix}")
    try:
        data = run(client, args.redis_url, prefix, args.quick, not args.no_peers)
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 1000):
            client.unlink(*keys[i:i + 1000])
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print_table(data)
    return 1 if data["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
