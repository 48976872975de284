"""BullMQ beside taskq, same Redis, same run, for scripts/bench.py.

    python scripts/bench.py --bullmq-only [--quick] [--json] [--redis-url URL]

The peer a Redis queue is judged against. BullMQ (pinned in
scripts/bullmq/package-lock.json) is installed with ``npm ci`` into a cache
folder (``$XDG_CACHE_HOME`` or ~/.cache, ``taskq-bench/bullmq-<hash of the
lock>``) the first time; it needs node and npm and the npm registry, and
nothing of it is part of taskq. scripts/bullmq/bench.mjs is BullMQ's side.

Each run measures both sides back to back on the --redis-url server:

  bulk add  taskq Queue.enqueue_many with lists of 1,000 small tasks against
            BullMQ Queue.addBulk with lists of 1,000 no-op jobs, each timed by
            its own client.
  drain     N no-op tasks are added first; then the worker processes start,
            say they are ready, and are released together; the clock runs
            until N are completed, polled every 10 ms by this process on both
            sides (bench_worker.drain for taskq). BullMQ keeps completed jobs
            by default, as taskq keeps completed tasks, so both write the same
            kind of history. Sides: one process each, a ``taskq worker``
            (bench.py's --concurrency 4 --prefetch 100) against a BullMQ Worker
            at its default concurrency 1 and at concurrency 50 (the best of 1,
            10, 50 and 100 in a sweep on the 2-core development machine); and
            two processes each (taskq against BullMQ at 50).

Ratios (taskq / BullMQ) are taken within each run and their median reported.
The Redis server's CPU time over each drain's wall time ("busy %", 100 is one
core) says what limits each side: a side whose Redis is near 100 % is bound
by the server's work per task; one well under it waits on round trips or on
its own client.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench_worker

HERE = Path(__file__).resolve().parent
NODE_SIDE = HERE / "bullmq"
TUNED = 50
"""BullMQ's Worker concurrency in the tuned runs."""
PROCESSES = 2
TASKQ_CONCURRENCY, TASKQ_PREFETCH = 4, 100  # bench.py's worker setting
CHUNK = 1000

ROWS = {
    "bmq_taskq_bulk": ("taskq enqueue_many, 1,000 per call", "tasks/s", None),
    "bmq_add_bulk": ("BullMQ addBulk, 1,000 per call", "jobs/s", None),
    "bmq_ratio_bulk": ("bulk add ratio taskq/BullMQ", "x", None),
    "bmq_taskq_drain1": ("taskq drain, 1 process", "tasks/s", None),
    "bmq_drain_c1": ("BullMQ drain, 1 proc, concurrency 1", "jobs/s", None),
    "bmq_ratio_c1": ("drain ratio vs BullMQ concurrency 1", "x", (">=", 3.0)),
    "bmq_drain_tuned": (f"BullMQ drain, 1 proc, concurrency {TUNED}", "jobs/s", None),
    "bmq_ratio_tuned": (f"drain ratio vs BullMQ concurrency {TUNED}", "x", (">=", 3.0)),
    "bmq_taskq_drain2": (f"taskq drain, {PROCESSES} processes", "tasks/s", None),
    "bmq_drain2_tuned": (f"BullMQ drain, {PROCESSES} procs, conc. {TUNED}", "jobs/s", None),
    "bmq_ratio_2p": (f"drain ratio, {PROCESSES} processes each", "x", None),
}
"""Rows bench.py adds to its table (same shape as its ROWS)."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def install() -> Path:
    """The folder holding BullMQ's node_modules and bench.mjs (npm ci once)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise RuntimeError("the BullMQ baseline needs node and npm on PATH")
    lock = (NODE_SIDE / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = cache / "taskq-bench" / f"bullmq-{hashlib.sha256(lock).hexdigest()[:12]}"
    if not (folder / "node_modules" / "bullmq" / "package.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(NODE_SIDE / name, folder / name)
        log(f"  bullmq: npm ci into {folder}")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                       check=True, stdout=subprocess.DEVNULL, timeout=600)
    shutil.copy(NODE_SIDE / "bench.mjs", folder / "bench.mjs")  # node resolves bullmq from there
    return folder


def _env(url: str) -> dict:
    """The node side's environment: the URL (and any password in it) kept
    off the command line, which other local users can read."""
    return dict(os.environ, BENCH_REDIS_URL=url)


def _node(folder: Path, *args: str) -> list[str]:
    return [shutil.which("node") or "node", str(folder / "bench.mjs"), *args]


def add_bulk(folder: Path, url: str, prefix: str, n: int) -> float:
    out = subprocess.run(_node(folder, "add", prefix, str(n)), check=True, env=_env(url),
                         capture_output=True, text=True, timeout=600)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["add_bulk"])


def bullmq_drain(r, folder: Path, url: str, prefix: str, n: int, concurrency: int,
                 processes: int, busy: list) -> float:
    """Jobs per second drained by ``processes`` BullMQ worker processes."""
    add_bulk(folder, url, prefix, n)
    procs = [subprocess.Popen(_node(folder, "work", prefix, str(n), str(concurrency)),
                              env=_env(url),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(processes)]
    try:
        deadline = time.monotonic() + 30
        while int(r.get(f"{prefix}:bench:ready") or 0) < processes:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("the BullMQ workers did not start: "
                                   + " ".join(p.stderr.read() for p in procs if p.poll() is not None))
            time.sleep(0.02)
        time.sleep(0.3)  # as for taskq: let them reach their blocking wait
        completed = f"{prefix}:drain:completed"
        cpu, t = bench_worker.redis_cpu(r), time.perf_counter()
        r.set(f"{prefix}:bench:go", "1")
        while r.zcard(completed) < n:
            if any(p.poll() not in (None, 0) for p in procs):
                raise RuntimeError("a BullMQ worker died")
            time.sleep(0.01)
        elapsed = time.perf_counter() - t
        busy.append(100 * (bench_worker.redis_cpu(r) - cpu) / elapsed)
        return n / elapsed
    finally:
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def taskq_bulk(bench, n: int) -> float:
    q = bench.queue("bmq-bulk")
    batches = [[{"func": "app.tasks:noop", "args": [i]} for i in range(s, min(n, s + CHUNK))]
               for s in range(0, n, CHUNK)]
    t = time.perf_counter()
    for batch in batches:
        q.enqueue_many(batch)
    rate = n / (time.perf_counter() - t)
    bench.wipe()
    return rate


def run(bench, n: int, bulk: int, runs: int) -> dict:
    """``runs`` rounds into bench.results; returns the busy % per drain."""
    folder = install()
    res = bench.results
    busy: dict[str, list[float]] = {k: [] for k in ("taskq 1", "bullmq 1 c1", f"bullmq 1 c{TUNED}",
                                                    f"taskq {PROCESSES}", f"bullmq {PROCESSES} c{TUNED}")}
    for i in range(runs):
        log(f"  bullmq beside taskq: run {i + 1}/{runs}")
        side = f"{bench.prefix}:bullmq{i}"
        res["bmq_taskq_bulk"].append(taskq_bulk(bench, bulk))
        res["bmq_add_bulk"].append(add_bulk(folder, bench.url, f"{side}b", bulk))
        bench.wipe()
        taskq_drain = [bench_worker.drain(bench.r, bench.url, bench.prefix, bench.queue("bmq-drain"),
                                          n, TASKQ_CONCURRENCY, CHUNK, TASKQ_PREFETCH,
                                          processes=p, busy=busy[f"taskq {p}"])
                       for p in (1, PROCESSES)]
        bench.wipe()
        c1 = bullmq_drain(bench.r, folder, bench.url, f"{side}c1", n, 1, 1, busy["bullmq 1 c1"])
        bench.wipe()
        tuned = bullmq_drain(bench.r, folder, bench.url, f"{side}t", n, TUNED, 1,
                             busy[f"bullmq 1 c{TUNED}"])
        bench.wipe()
        tuned2 = bullmq_drain(bench.r, folder, bench.url, f"{side}t2", n, TUNED, PROCESSES,
                              busy[f"bullmq {PROCESSES} c{TUNED}"])
        bench.wipe()
        res["bmq_ratio_bulk"].append(res["bmq_taskq_bulk"][-1] / res["bmq_add_bulk"][-1])
        res["bmq_taskq_drain1"].append(taskq_drain[0])
        res["bmq_taskq_drain2"].append(taskq_drain[1])
        res["bmq_drain_c1"].append(c1)
        res["bmq_drain_tuned"].append(tuned)
        res["bmq_drain2_tuned"].append(tuned2)
        res["bmq_ratio_c1"].append(taskq_drain[0] / c1)
        res["bmq_ratio_tuned"].append(taskq_drain[0] / tuned)
        res["bmq_ratio_2p"].append(taskq_drain[1] / tuned2)
    version = json.loads((folder / "node_modules" / "bullmq" / "package.json").read_text())["version"]
    return {"bullmq_version": version, "tasks": n, "bulk": bulk,
            "redis_busy_pct": {k: statistics.median(v) for k, v in busy.items()}}


def describe(data: dict) -> str:
    busy = ", ".join(f"{k} {v:.0f}" for k, v in data["redis_busy_pct"].items())
    return (f"bullmq {data['bullmq_version']}: {data['tasks']:,} no-op jobs per drain, "
            f"{data['bulk']:,} per bulk add; Redis busy % per drain, median (100 = one core): {busy}")
