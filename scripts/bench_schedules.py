"""Schedules due in the same second -> every run enqueued, for scripts/bench.py
(or alone: see main).

N cron schedules (one callable task per run) are created once through
Schedules.create. Each measured run puts all of them due at the same Redis
millisecond, half a second ago, then releases K scheduler processes at
once (each already connected, scripts loaded, blocked on a Redis list);
each calls the scheduler's step (taskq.schedules.firing.upkeep) until nothing
is due, as ``taskq scheduler`` does every tick, without the leader lock, so
K > 1 is the worst case: every process races for every schedule. The figure
is from the release to the last process done (each delivers the runs it
won, so by then every run is an engine task). Afterwards every schedule
must have exactly one more run and the queue exactly N more tasks:
anything else is counted as duplicates (or missing runs, an error).

Lateness: with a real ``taskq scheduler`` (the leader, asleep: nothing else
is timed) and an idle ``taskq worker`` (one slot), once schedules are
created due 300 ms ahead, one at a time with random 0-20 ms gaps; for each,
the milliseconds from its due time to the run fired (the fire time in its
runs list) and to its task started on the worker (the task's started ms).
Both clocks are Redis's.

    python scripts/bench_schedules.py [--redis-url URL] [--schedules N] [--runs N] [--samples N]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEDULERS = (1, 3)
ROWS = {
    "schedules_1": ("10k due schedules -> enqueued, 1 sched.", "ms", ("<=", 1000.0)),
    "schedules_3": ("10k due schedules -> enqueued, 3 sched.", "ms", ("<=", 1000.0)),
    "schedules_dupes": ("duplicate schedule runs (all runs)", "runs", ("<=", 0)),
    "schedule_fired_p50": ("schedule due -> run fired, p50", "ms", ("<=", 20.0)),
    "schedule_started_p50": ("schedule due -> task started, p50", "ms", ("<=", 20.0)),
    "schedule_started_p99": ("schedule due -> task started, p99", "ms", ("<=", 50.0)),
}
"""Rows bench.py adds to its table (same shape as its ROWS)."""
PAYLOAD = {"callable": "bench_worker:noop"}
AGENT = "6a1f4a6c-7c43-4d4c-9a0b-3d1a7b2f9c11"


def child(url: str, prefix: str, go_key: str, ready_key: str, done_key: str) -> None:
    """One scheduler process: wait for the release, fire until nothing is due."""
    import redis
    import taskq
    from taskq.lua import all_scripts
    from taskq.schedules import firing
    r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=None)  # BLPOP waits
    for s in all_scripts().values():
        r.script_load(s.source)
    keys = taskq.Keys(prefix)
    r.rpush(ready_key, os.getpid())
    r.blpop([go_key], timeout=120)
    firing.upkeep(r, keys)
    r.rpush(done_key, repr(time.time()))


def create(r, prefix: str, n: int) -> list[str]:
    from taskq.schedules import Schedules
    store = Schedules(r, prefix=prefix)
    body = {"title": "bench", "description": "", "schedule_kind": "cron",
            # yearly: the next due time a fire sets is months away, so a run that
            # crosses a minute boundary cannot make schedules due again (a
            # minutely one would legitimately fire twice and read as duplicates)
            "schedule_expr": "0 0 1 1 *", "payload": PAYLOAD, "created_by": AGENT, "max_retries": 0}
    return [store.create(body)["id"] for _ in range(n)]


def one_run(r, url: str, prefix: str, sids: list[str], schedulers: int, run_no: int) -> tuple[float, int]:
    """(ms from release to the last scheduler done, duplicate runs)."""
    import redis
    from taskq import Queue
    from taskq.keys import ScheduleKeys
    sk = ScheduleKeys(prefix)
    sec, usec = r.time()
    due = int(sec) * 1000 + int(usec) // 1000 - 500
    pipe = r.pipeline(transaction=False)
    for sid in sids:
        pipe.hset(sk.schedule(sid), "due", due)
        pipe.zadd(sk.due, {sid: due})
    pipe.execute()
    tag = f"{prefix}:bench-sched:{run_no}:{schedulers}"
    go, ready, done = f"{tag}:go", f"{tag}:ready", f"{tag}:done"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    waiter = redis.Redis.from_url(url, decode_responses=True, socket_timeout=None)  # BLPOP waits
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", url, prefix, go, ready, done],
                              env=env) for _ in range(schedulers)]
    try:
        for _ in range(schedulers):
            if not waiter.blpop([ready], timeout=60):
                raise RuntimeError("a scheduler process did not start")
        time.sleep(0.2)  # every child is blocked on the release by now
        start = time.time()
        r.rpush(go, *["go"] * schedulers)
        ends = [float(waiter.blpop([done], timeout=120)[1]) for _ in range(schedulers)]
    finally:
        for p in procs:
            p.wait(timeout=60)
        waiter.close()
    elapsed_ms = (max(ends) - start) * 1000
    pipe = r.pipeline(transaction=False)
    for sid in sids:
        pipe.hget(sk.schedule(sid), "runs_total")
    totals = [int(t) for t in pipe.execute()]
    tasks = Queue("default", redis=r, prefix=prefix).count()
    if min(totals) < run_no or tasks < run_no * len(sids):
        raise RuntimeError(f"runs missing: {sum(totals)} runs, {tasks} tasks for {run_no} x {len(sids)}")
    return elapsed_ms, sum(totals) - run_no * len(sids)


def start_scheduler(url: str, prefix: str) -> subprocess.Popen:
    """A ``taskq scheduler`` process on ``prefix``."""
    env = dict(os.environ, REDIS_URL=url, TASKQ_PREFIX=prefix,
               PYTHONPATH=os.pathsep.join([HERE, os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-m", "taskq.cli", "scheduler"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def lateness(r, url: str, prefix: str, samples: int) -> tuple[list[float], list[float]]:
    """(ms from due to fired, ms from due to task started) per once schedule."""
    import bench_worker
    from taskq import Keys, Queue
    from taskq.keys import ScheduleKeys
    from taskq.schedules import Schedules, timing
    store, sk, q = Schedules(r, prefix=prefix), ScheduleKeys(prefix), Queue("default", redis=r, prefix=prefix)
    worker = bench_worker.start_worker(url, prefix, "default", 1)
    scheduler = start_scheduler(url, prefix)
    fired, started = [], []
    try:
        bench_worker.wait_registered(r, Keys(prefix))
        deadline = time.monotonic() + 20
        while not r.get(Keys(prefix).scheduler_leader):
            if time.monotonic() > deadline:
                raise RuntimeError("the benchmark scheduler did not lead")
            time.sleep(0.05)
        for i in range(samples + 1):  # the first one warms the worker's imports up
            due = store.now_ms() + 300
            sid = store.create({"title": "late", "description": "", "schedule_kind": "once",
                                "schedule_expr": timing.from_ms(due).isoformat(), "payload": PAYLOAD,
                                "created_by": AGENT, "max_retries": 0})["id"]
            due = int(r.hget(sk.schedule(sid), "due"))
            deadline = time.monotonic() + 10
            task = None
            while task is None or task.started_at is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("a schedule's run did not start within 10 s")
                time.sleep(0.005)
                run = r.lrange(sk.runs(sid), 0, 0)
                if run:
                    task = q.get(f"default:sched-{sid}-{run[0].split('|')[0]}")
            if i:
                fired.append(int(run[0].split("|")[1]) - due)
                started.append(task.started_at.timestamp() * 1000 - due)
            time.sleep(random.uniform(0, 0.02))
    finally:
        scheduler.send_signal(signal.SIGTERM)
        bench_worker.stop_worker(worker)
        scheduler.wait(15)
    return fired, started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run(bench, n: int, runs: int, samples: int = 20) -> None:
    """The measurement into bench.results (bench.py's Bench), on bench.prefix."""
    from bench import log
    for i in range(runs):
        log(f"  schedules: lateness, run {i + 1}/{runs} ({samples} samples)")
        prefix = f"{bench.prefix}-late{i}"
        try:
            fired, started = lateness(bench.r, bench.url, prefix, samples)
        finally:
            for key in bench.r.scan_iter(match=f"{prefix}:*", count=1000):
                bench.r.unlink(key)
        bench.results["schedule_fired_p50"].append(statistics.median(fired))
        bench.results["schedule_started_p50"].append(statistics.median(started))
        bench.results["schedule_started_p99"].append(percentile(started, 99))
    log(f"  schedules: creating {n:,} cron schedules")
    sids = create(bench.r, bench.prefix, n)
    run_no, dupes = 0, 0
    for i in range(runs):
        for k in SCHEDULERS:
            run_no += 1
            log(f"  schedules: {k} scheduler(s), run {i + 1}/{runs}")
            ms, d = one_run(bench.r, bench.url, bench.prefix, sids, k, run_no)
            bench.results[f"schedules_{k}"].append(ms)
            dupes += d
    bench.results["schedules_dupes"].append(dupes)
    bench.wipe()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
        return 0
    sys.path.insert(0, os.path.dirname(HERE))
    import redis
    from bench import Bench, QUICK
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    ap.add_argument("--schedules", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--samples", type=int, default=20, help="lateness samples per run")
    args = ap.parse_args()
    bench = Bench(redis.Redis.from_url(args.redis_url, decode_responses=True), QUICK, args.redis_url)
    try:
        run(bench, args.schedules, args.runs, args.samples)
    finally:
        bench.wipe()
    for key in ROWS:
        values = bench.results[key]
        print(f"{ROWS[key][0]:40} {statistics.median(values):9.1f} {ROWS[key][1]:5} runs "
              + "  ".join(f"{v:.1f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
