"""Time listing routes over a queue of mixed statuses (not a test: figures only).

    python scripts/bench_listing.py [--tasks 20000] [--redis redis://127.0.0.1:6379/0]

Fills a private key prefix with tasks (about half finished, the rest queued,
delayed, blocked or running), times each route through the Flask test client
(median of 3 runs of 10 requests) and deletes the prefix again.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid

import redis

from api import create_app
from api.auth import mint_token
from taskq import Queue
from taskq.lease import complete_many

SECRET = "bench-secret-0123456789abcdef0123456789"
ROUTES = ("/api/tasks?status=pending&limit=20", "/api/tasks?status=pending&limit=20&page=50",
          "/api/tasks?status=completed&sort=completed_at&limit=20", "/api/tasks?limit=20")


def fill(q: Queue, n: int, rng: random.Random) -> None:
    anchor = q.enqueue_call(None, priority=-10)
    specs = []
    for _ in range(n):
        spec = {"priority": rng.randint(1, 10)}
        kind = rng.random()
        if kind < 0.1:
            spec["delay"] = 3600
        elif kind < 0.15:
            spec["depends_on"] = [anchor.id]
        specs.append(spec)
    for i in range(0, n, 1000):
        q.enqueue_many(specs[i:i + 1000])
    leases = []
    while len(leases) < n // 2:
        got = q.claim(n=500, worker="bench")
        if not got:
            break
        leases += got
    complete_many(q.redis, [(lease, "ok") for lease in leases[: len(leases) * 9 // 10]])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=20_000)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    r = redis.Redis.from_url(args.redis, decode_responses=True)
    prefix = f"bench-listing-{uuid.uuid4().hex[:8]}"
    try:
        fill(Queue("dts", redis=r, prefix=prefix), args.tasks, random.Random(1))
        app = create_app({"REDIS": r, "TASKQ_PREFIX": prefix, "TASKQ_JWT_SECRET": SECRET,
                          "TASKQ_RATE_LIMIT": "1000000/60"})
        client = app.test_client()
        headers = {"Authorization": f"Bearer {mint_token(SECRET, 'bench', ['admin'], 600)}"}
        for route in ROUTES:
            runs = []
            for _ in range(3):
                times = []
                for _ in range(10):
                    t0 = time.perf_counter()
                    resp = client.get(route, headers=headers)
                    times.append(time.perf_counter() - t0)
                    assert resp.status_code == 200, resp.json
                runs.append(statistics.median(times))
            print(f"{route:60s} {statistics.median(runs) * 1000:8.1f} ms  (runs: "
                  + ", ".join(f"{x * 1000:.1f}" for x in runs) + ")")
    finally:
        batch = list(r.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(batch), 500):
            r.delete(*batch[i:i + 500])


if __name__ == "__main__":
    main()
