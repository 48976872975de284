#!/usr/bin/env python3
"""Benchmark the taskq engine against a live Redis: throughput, claim latency, memory.

    python scripts/bench.py [--redis-url URL] [--quick] [--json] [--rq | --rq-only]
                            [--workflows | --workflows-only]
                            [--cluster | --cluster-only] [--cluster-workers W]
                            [--bullmq | --bullmq-only]
                            [--redis-time | --redis-time-only] [--backlog]
                            [--issue20 [--no-huey]] [--async | --async-only]

URL defaults to $REDIS_URL, else redis://127.0.0.1:6379/0. Every key the
benchmark writes lives under a unique prefix (taskq-bench-<pid>-<random>) and
is deleted when it ends, so it can share a server with other work; it never
flushes anything. What it measures, through the public API only:

  enqueue         Queue.enqueue in a loop: one round trip per task.
  enqueue_many    Queue.enqueue_many with lists of 1,000 small tasks.
  claim1          q.claim(1) then lease.complete(): two round trips per task.
  claim100        q.claim(100) then taskq.complete_many(): one pipeline for 100.
  claim latency   single q.claim(1) calls on a queue kept at 1k and on one kept
                  at 100k queued tasks. Each claimed task is completed, and
                  replaced by a new one, outside the timed section; the two
                  queues are sampled alternately so machine noise hits both alike.
  worker          drain, idle pickup (scripts/bench_worker.py) and enqueue ->
                  result in hand with Task.wait (scripts/bench_result.py).
  schedules       10,000 cron schedules due in the same second: time until
                  every run is an engine task, with 1 and with 3 racing scheduler
                  processes, and duplicate runs (scripts/bench_schedules.py).
  memory          MEMORY USAGE of one small queued task's hash, and the growth of
                  INFO used_memory over the enqueue_many runs divided by the task
                  count (so it includes the index zsets and the event stream).

A small task is {"func": "app.tasks:noop", "args": [i]}. Each measurement is
repeated (3 runs; 1 run and smaller sizes with --quick) and the median is
reported beside the individual runs. Times are wall clock at the client
(perf_counter), so they include the Python client's own work and the round
trips. Targets are printed beside the figures, not asserted. used_memory is
server-wide: other clients writing to the same Redis during a run skew it.

--workflows adds the workflow scenario (scripts/bench_workflows.py: 1,000
four-step diamond workflows through one worker, steps/s beside plain no-op
tasks/s of the same worker in the same run, and workflow create latency);
--workflows-only runs just that.

--schedules-only runs just the schedules scenario.

--cluster adds the cluster scenario (scripts/bench_cluster.py: 6 queues, 2
on each master of a private 3-master cluster, drained by W worker processes
(--cluster-workers, default one per queue: 6, or one per core if more), beside the same
drain on a private plain Redis, alternating in the same run: tasks/s of
both, the ratio, and how busy each Redis server and the workers were, which
says what limits it); --cluster-only runs just that, and needs no Redis at
--redis-url.

--bullmq adds BullMQ beside taskq on the same Redis (scripts/bench_bullmq.py:
bulk add and worker drain, one and two processes each, ratios within each
run; needs node and npm); --bullmq-only runs just that.

--rq adds the RQ baseline (scripts/bench_rq.py: the taskq ``rq worker``
classes beside RQ's own Worker and SimpleWorker); --rq-only runs just that.

--redis-time adds (and --redis-time-only runs just) the table of Redis time
per task per operation, taskq beside BullMQ, from INFO commandstats on a
private redis-server (scripts/bench_redis_time.py; needs node and npm);
--backlog adds the same table at 1,000,000 queued tasks.

--issue20 runs every goal of "A leaner task lifecycle" in one go on a
private redis-server, taskq beside BullMQ, Huey, RQ, the pipelined Lua
ceiling and a bare Flask endpoint, one table per goal with the target and
whether it is met (scripts/bench_issue20.py); --no-huey leaves Huey out
(nothing is installed for it then).

--async adds the goals of "asyncio end to end" (scripts/bench_async.py:
sleep(0.05) tasks through one ``taskq worker --async-concurrency 1000`` beside
arq and SAQ, and async against plain no-op drains); --async-only runs just that.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import redis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import taskq  # noqa: E402
import bench_worker  # noqa: E402  (scripts/ is this file's folder)
import bench_result  # noqa: E402
import bench_rq  # noqa: E402
import bench_workflows  # noqa: E402
import bench_schedules  # noqa: E402
import bench_cluster  # noqa: E402
import bench_bullmq  # noqa: E402
import bench_issue20  # noqa: E402
import bench_redis_time  # noqa: E402
import bench_async  # noqa: E402
from bench_server import PrivateRedis  # noqa: E402

NOOP = "app.tasks:noop"
CHUNK = 1000
FULL = dict(runs=3, enqueue=5_000, bulk=100_000, claim1=3_000, claim100=20_000, samples=2_000,
            drain=50_000, pickups=200, rq_tasks=1_000, schedules=10_000, cluster_tasks=60_000)
QUICK = dict(runs=1, enqueue=2_000, bulk=50_000, claim1=1_000, claim100=10_000, samples=500,
             drain=20_000, pickups=100, rq_tasks=300, schedules=10_000, cluster_tasks=24_000)
WORKER_CONCURRENCY, WORKER_PREFETCH = 4, 100
SMALL_Q, BIG_Q = 1_000, 100_000

# key: (label, unit, target as (">=" | "<=", value) or None)
ROWS = {
    "enqueue": ("enqueue, one by one", "tasks/s", None),
    "enqueue_many": ("enqueue_many, 1,000 per call", "tasks/s", (">=", 50_000)),
    "claim1": ("claim(1) + complete", "cycles/s", None),
    "claim100": ("claim(100) + complete_many", "cycles/s", (">=", 15_000)),
    "lat_1k_p50": ("claim(1) latency p50, 1k queued", "ms", None),
    "lat_1k_p99": ("claim(1) latency p99, 1k queued", "ms", None),
    "lat_100k_p50": ("claim(1) latency p50, 100k queued", "ms", None),
    "lat_100k_p99": ("claim(1) latency p99, 100k queued", "ms", None),
    "lat_ratio_p50": ("latency ratio 100k/1k, p50", "x", ("<=", 1.5)),
    "lat_ratio_p99": ("latency ratio 100k/1k, p99", "x", None),
    "task_hash_bytes": ("MEMORY USAGE of one task hash", "bytes", None),
    "bytes_per_task": ("used_memory growth per task", "bytes", ("<=", 600)),
    "drain": ("worker drain, no-op tasks, 1 process", "tasks/s", (">=", 10_000)),
    "pickup_p50": ("idle worker pickup p50", "ms", ("<=", 2.0)),
    "pickup_p99": ("idle worker pickup p99", "ms", None),
}
ROWS.update(bench_result.ROWS)  # enqueue -> result in hand (Task.wait), after pickup
ROWS.update(bench_workflows.ROWS)  # only with --workflows / --workflows-only
ROWS.update(bench_schedules.ROWS)
ROWS.update(bench_cluster.ROWS)  # only with --cluster / --cluster-only
ROWS.update(bench_bullmq.ROWS)  # only with --bullmq / --bullmq-only


def small(start: int, count: int) -> list[dict]:
    return [{"func": NOOP, "args": [i]} for i in range(start, start + count)]


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Bench:
    def __init__(self, client: redis.Redis, sizes: dict, url: str):
        self.r = client
        self.url = url
        self.sizes = sizes
        self.prefix = f"taskq-bench-{os.getpid()}-{os.urandom(3).hex()}"
        self.keys = taskq.Keys(self.prefix)
        self.n_queues = 0
        self.results: dict[str, list[float]] = {k: [] for k in ROWS}

    def queue(self, kind: str) -> taskq.Queue:
        self.n_queues += 1
        return taskq.Queue(f"{kind}-{self.n_queues}", redis=self.r, prefix=self.prefix)

    def fill(self, q: taskq.Queue, n: int) -> None:
        for i in range(0, n, CHUNK):
            q.enqueue_many(small(i, min(CHUNK, n - i)))

    def wipe(self) -> None:
        """Delete every key under our prefix (pipelined UNLINK, 1,000 a trip)."""
        batch: list[str] = []
        for key in self.r.scan_iter(match=f"{self.prefix}:*", count=1000):
            batch.append(key)
            if len(batch) == 1000:
                self.r.unlink(*batch)
                batch.clear()
        if batch:
            self.r.unlink(*batch)

    def used_memory(self) -> int:
        return int(self.r.info("memory")["used_memory"])

    # -- measurements ----------------------------------------------------
    def warm_up(self) -> None:
        """Load every script the benchmark uses, so no timed run pays NOSCRIPT."""
        q = self.queue("warmup")
        self.fill(q, 200)
        q.enqueue(NOOP, 0)
        q.claim(1)[0].complete()
        taskq.complete_many(self.r, [(lease, None) for lease in q.claim(100)])
        self.wipe()

    def run_enqueue(self) -> None:
        n, q = self.sizes["enqueue"], self.queue("enqueue")
        t = time.perf_counter()
        for i in range(n):
            q.enqueue(NOOP, i)
        self.results["enqueue"].append(n / (time.perf_counter() - t))
        self.wipe()

    def run_enqueue_many(self) -> None:
        n, q = self.sizes["bulk"], self.queue("bulk")
        batches = [small(i, min(CHUNK, n - i)) for i in range(0, n, CHUNK)]
        before = self.used_memory()
        t = time.perf_counter()
        for batch in batches:
            q.enqueue_many(batch)
        elapsed = time.perf_counter() - t
        grown = self.used_memory() - before
        qk = self.keys.queue(q.name)
        ids = q.list_ids("queued", limit=5)
        sizes = [self.r.memory_usage(qk.task(tid), samples=0) for tid in ids]
        self.results["enqueue_many"].append(n / elapsed)
        self.results["bytes_per_task"].append(grown / n)
        self.results["task_hash_bytes"].append(statistics.median(sizes))
        self.wipe()

    def run_claim(self, q: taskq.Queue, batch: int) -> None:
        n = self.sizes["claim1" if batch == 1 else "claim100"]
        done = 0
        t = time.perf_counter()
        while done < n:
            leases = q.claim(batch)
            if not leases:
                raise RuntimeError(f"{q.name} ran dry after {done} claims")
            if batch == 1:
                leases[0].complete()
            elif not all(taskq.complete_many(self.r, [(lease, None) for lease in leases])):
                raise RuntimeError("complete_many refused a lease")
            done += len(leases)
        self.results["claim1" if batch == 1 else "claim100"].append(done / (time.perf_counter() - t))

    def run_latency(self, queues: dict[str, taskq.Queue]) -> None:
        lat: dict[str, list[float]] = {size: [] for size in queues}
        for i in range(self.sizes["samples"]):
            for size, q in queues.items():
                t = time.perf_counter()
                leases = q.claim(1)
                lat[size].append((time.perf_counter() - t) * 1000)
                leases[0].complete()
                q.enqueue(NOOP, i)  # keep the queue at its size
        for size, values in lat.items():
            self.results[f"lat_{size}_p50"].append(percentile(values, 50))
            self.results[f"lat_{size}_p99"].append(percentile(values, 99))
        for p in ("p50", "p99"):
            self.results[f"lat_ratio_{p}"].append(
                self.results[f"lat_100k_{p}"][-1] / self.results[f"lat_1k_{p}"][-1])

    def run_all(self) -> None:
        runs = self.sizes["runs"]
        self.warm_up()
        for label, step in (("enqueue", self.run_enqueue), ("enqueue_many + memory", self.run_enqueue_many)):
            for i in range(runs):
                log(f"  {label}: run {i + 1}/{runs}")
                step()
        for batch in (1, 100):
            q = self.queue(f"claim{batch}")
            self.fill(q, runs * self.sizes["claim1" if batch == 1 else "claim100"] + batch)
            for i in range(runs):
                log(f"  claim({batch}) + complete: run {i + 1}/{runs}")
                self.run_claim(q, batch)
            self.wipe()
        log(f"  claim latency: filling queues to {SMALL_Q:,} and {BIG_Q:,} tasks")
        queues = {"1k": self.queue("lat1k"), "100k": self.queue("lat100k")}
        self.fill(queues["1k"], SMALL_Q)
        self.fill(queues["100k"], BIG_Q)
        for i in range(runs):
            log(f"  claim latency: run {i + 1}/{runs}")
            self.run_latency(queues)
        self.wipe()
        for i in range(runs):
            log(f"  worker drain and pickup: run {i + 1}/{runs}")
            self.run_worker()
        self.run_schedules()

    def run_schedules(self) -> None:
        bench_schedules.run(self, self.sizes["schedules"], self.sizes["runs"])

    def run_worker(self) -> None:
        rate = bench_worker.drain(self.r, self.url, self.prefix, self.queue("drain"),
                                  self.sizes["drain"], WORKER_CONCURRENCY, CHUNK, WORKER_PREFETCH)
        self.results["drain"].append(rate)
        self.wipe()
        lat = bench_worker.pickup(self.r, self.url, self.prefix, self.queue("pickup"),
                                  self.sizes["pickups"])
        self.results["pickup_p50"].append(percentile(lat, 50))
        self.results["pickup_p99"].append(percentile(lat, 99))
        self.wipe()
        bench_result.run(self, self.sizes["pickups"])


def meets(value: float, target) -> bool | None:
    if target is None:
        return None
    op, goal = target
    return value >= goal if op == ">=" else value <= goal


def fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.3f}"
    if unit in ("x", "cores"):
        return f"{value:.2f}"
    return f"{value:,.0f}"


def report(bench: Bench, meta: dict) -> dict:
    out = dict(meta, results={})
    for key, (label, unit, target) in ROWS.items():
        runs = bench.results[key]
        if not runs:  # a scenario not asked for
            continue
        median = statistics.median(runs)
        out["results"][key] = {
            "label": label, "unit": unit, "median": median, "runs": runs,
            "target": f"{target[0]} {target[1]}" if target else None, "meets": meets(median, target)}
    return out


def print_table(data: dict) -> None:
    print(f"taskq bench: Redis {data['redis_version']} at {data['url']}, "
          f"{data['sizes']['runs']} run(s) each, median shown, {data['elapsed_s']:.0f} s")
    head = f"{'measurement':36} {'median':>10}  {'unit':8} {'target':14} runs"
    print(head)
    print("-" * (len(head) + 16))
    for r in data["results"].values():
        target = ""
        if r["target"]:
            target = f"{r['target'].split()[0]} {fmt(float(r['target'].split()[1]), r['unit'])}"
            target += " ok" if r["meets"] else " MISS"
        runs = "  ".join(fmt(v, r["unit"]) for v in r["runs"])
        print(f"{r['label']:36} {fmt(r['median'], r['unit']):>10}  {r['unit']:8} {target:14} {runs}")
    s = data["sizes"]
    print(f"\nsizes: enqueue {s['enqueue']:,}; enqueue_many {s['bulk']:,} (lists of {CHUNK:,}); "
          f"claim(1) {s['claim1']:,}; claim(100) {s['claim100']:,}; "
          f"latency {s['samples']:,} samples per queue size per run; worker drain {s['drain']:,} "
          f"(--concurrency {WORKER_CONCURRENCY} --prefetch {WORKER_PREFETCH}); pickup {s['pickups']:,} samples; "
          f"schedules {s['schedules']:,} due at once, racing scheduler processes {bench_schedules.SCHEDULERS}")
    if "cluster" in data:
        c = data["cluster"]
        print(f"cluster: {c['tasks']:,} no-op tasks over 6 queues (2 per master), {c['workers']} "
              f"worker processes (--concurrency {c['concurrency']} --prefetch {c['prefetch']}), "
              f"private redis-server {c['redis_version']}: one plain, one 3-master cluster; "
              f"{c['cpu_count']} cores. Busy % is a server's CPU time over the drain's wall time "
              f"(100 = one core); per master, each run: "
              + "; ".join(" ".join(f"{v:.0f}" for v in r["cluster"]["redis_busy_pct"])
                          for r in c["runs"]))
        print(c["limit"])
    if "bullmq" in data:
        print(bench_bullmq.describe(data["bullmq"]))


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    return url


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    ap.add_argument("--quick", action="store_true", help="1 run per measurement, smaller sizes")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--rq", action="store_true", help="add the RQ baseline (scripts/bench_rq.py)")
    ap.add_argument("--rq-only", action="store_true", help="run only the RQ baseline")
    ap.add_argument("--schedules-only", action="store_true", help="run only the schedules scenario")
    ap.add_argument("--rq-tasks", type=int, default=None, help="no-op jobs per RQ baseline run")
    ap.add_argument("--workflows", action="store_true",
                    help="add the workflow scenario (scripts/bench_workflows.py)")
    ap.add_argument("--workflows-only", action="store_true", help="run only the workflow scenario")
    ap.add_argument("--cluster", action="store_true",
                    help="add the cluster scenario (scripts/bench_cluster.py)")
    ap.add_argument("--cluster-only", action="store_true", help="run only the cluster scenario")
    ap.add_argument("--bullmq", action="store_true",
                    help="add BullMQ beside taskq (scripts/bench_bullmq.py; needs node and npm)")
    ap.add_argument("--bullmq-only", action="store_true", help="run only the BullMQ comparison")
    ap.add_argument("--cluster-workers", type=int, default=bench_cluster.default_workers(),
                    help="worker processes in the cluster scenario (default: one per queue, 6, or one per core if more)")
    ap.add_argument("--redis-time", action="store_true",
                    help="add the Redis time per task table, taskq beside BullMQ, on a private "
                         "redis-server (scripts/bench_redis_time.py; needs node and npm)")
    ap.add_argument("--redis-time-only", action="store_true", help="run only the Redis time table")
    ap.add_argument("--backlog", action="store_true",
                    help="with --redis-time(-only) or --issue20: the Redis time table at "
                         "1,000,000 queued tasks too (up to about 1 GB of Redis memory, 5-10 minutes)")
    ap.add_argument("--issue20", action="store_true",
                    help="every goal of issue 20 in one run, beside BullMQ, Huey, RQ (private "
                         "redis-server; scripts/bench_issue20.py)")
    ap.add_argument("--no-huey", action="store_true", help="--issue20 without Huey")
    ap.add_argument("--async", dest="async_", action="store_true",
                    help="add the asyncio scenarios, beside arq and SAQ (scripts/bench_async.py)")
    ap.add_argument("--async-only", action="store_true", help="run only the asyncio scenarios")
    args = ap.parse_args()
    if args.issue20:
        data = bench_issue20.run(args.quick, args.backlog, not args.no_huey)
        if args.json:
            print(json.dumps(data, indent=2, default=str))
        else:
            bench_issue20.print_report(data)
        return 0
    if args.redis_time_only:
        return redis_time(args)

    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    sizes = QUICK if args.quick else FULL
    bench = Bench(client, sizes, args.redis_url)
    log(f"taskq bench: key prefix {bench.prefix}")
    start = time.perf_counter()
    try:
        if args.schedules_only:
            bench.run_schedules()
        elif not (args.rq_only or args.workflows_only or args.cluster_only or args.bullmq_only
                  or args.async_only):
            bench.run_all()
        if args.workflows or args.workflows_only:
            bench.warm_up()
            for i in range(sizes["runs"]):
                log(f"  workflows: run {i + 1}/{sizes['runs']}")
                bench_workflows.run(bench)
        cluster = None
        if args.cluster or args.cluster_only:
            cluster = bench_cluster.run(bench, sizes["cluster_tasks"], sizes["runs"],
                                        args.cluster_workers)
        bullmq = None
        if args.bullmq or args.bullmq_only:
            bench.warm_up()
            bullmq = bench_bullmq.run(bench, sizes["drain"], sizes["bulk"] // 2, sizes["runs"])
        rq = None
        if args.rq or args.rq_only:
            rq = bench_rq.run(args.redis_url, bench.prefix, args.rq_tasks or sizes["rq_tasks"],
                              sizes["runs"])
        asyncio_data = None
        if args.async_ or args.async_only:
            asyncio_data = bench_async.run(client, args.redis_url, bench.prefix, args.quick)
    finally:
        if not args.cluster_only:  # that one writes to its own servers only
            bench.wipe()
    if args.cluster_only:
        version, url = cluster["redis_version"], "private servers (--cluster-only)"
    else:
        version, url = client.info("server")["redis_version"], redact(args.redis_url)
    meta = {"redis_version": version, "url": url,
            "quick": args.quick, "sizes": sizes, "elapsed_s": time.perf_counter() - start}
    data = report(bench, meta) if not args.rq_only else dict(meta, results={})
    if cluster:
        data["cluster"] = cluster
    if bullmq:
        data["bullmq"] = bullmq
    if rq:
        data["rq_baseline"] = rq
    if asyncio_data:
        data["async"] = asyncio_data
    if args.redis_time:
        with PrivateRedis() as server:
            data["redis_time"] = bench_redis_time.run(server, sizes["runs"], args.quick, args.backlog)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        if not (args.rq_only or args.async_only):
            print_table(data)
        if rq:
            bench_rq.print_table(rq)
        if asyncio_data:
            bench_async.print_table(asyncio_data)
        for table in data.get("redis_time", []):
            bench_redis_time.print_table(table)
    return 0


def redis_time(args) -> int:
    """--redis-time-only: the table(s) alone, on a private redis-server."""
    runs = (QUICK if args.quick else FULL)["runs"]
    with PrivateRedis() as server:
        tables = bench_redis_time.run(server, runs, args.quick, args.backlog)
    if args.json:
        print(json.dumps({"redis_time": tables}, indent=2))
    else:
        for table in tables:
            bench_redis_time.print_table(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
