"""Schedules due in the same second -> every run enqueued, for scripts/bench.py
(or alone: see main).

N cron schedules (one callable task per run) are created once through
Schedules.create. Each measured run puts all of them due at the same Redis
millisecond, half a second ago, then releases K scheduler processes at
once (each already connected, scripts loaded, blocked on a Redis list);
each calls the scheduler's step (taskq.schedules.firing.step) until nothing
is due, as ``taskq scheduler`` does every tick, without the leader lock, so
K > 1 is the worst case: every process races for every schedule. The figure
is from the release to the last process done (each delivers the runs it
won, so by then every run is an engine task). Afterwards every schedule
must have exactly one more run and the queue exactly N more tasks:
anything else is counted as duplicates (or missing runs, an error).

    python scripts/bench_schedules.py [--redis-url URL] [--schedules N] [--runs N]
"""

from __future__ import annotations

import argparse
import os
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
    firing.step(r, keys)
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


def run(bench, n: int, runs: int) -> None:
    """The measurement into bench.results (bench.py's Bench), on bench.prefix."""
    from bench import log
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
    args = ap.parse_args()
    bench = Bench(redis.Redis.from_url(args.redis_url, decode_responses=True), QUICK, args.redis_url)
    try:
        run(bench, args.schedules, args.runs)
    finally:
        bench.wipe()
    for key in ROWS:
        values = bench.results[key]
        print(f"{ROWS[key][0]:40} {statistics.median(values):9.1f} {ROWS[key][1]:5} runs "
              + "  ".join(f"{v:.1f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
