"""Enqueue -> result in hand, for scripts/bench.py (or alone: see main).

With a real ``taskq worker`` process idle (blocked on the queue's wake key,
one thread, as in the pickup measurement), one no-op task at a time is
enqueued and waited for with Task.wait: the figure is the producer's whole
round trip, from calling enqueue to holding the result, so it includes the
worker's wake, claim, run and completion, and the waiter's wake and read.

    python scripts/bench_result.py [--redis-url URL] [--samples N] [--runs N] [--pause S]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import bench_worker

ROWS = {
    "result_p50": ("enqueue -> result in hand p50", "ms", ("<=", 1.0)),
    "result_p99": ("enqueue -> result in hand p99", "ms", None),
}
"""Rows bench.py adds to its table (same shape as its ROWS)."""


PAUSE = 0.01
"""Seconds between samples, for the worker to go back to its blocking wait
(as in the pickup measurement). On a virtual machine this also lets the
CPUs go idle, and waking them shows in every round trip of the next sample."""


def latencies(r, url: str, prefix: str, q, samples: int, pause: float = PAUSE) -> list[float]:
    """Milliseconds from enqueue to Task.wait returning, on an idle worker."""
    proc = bench_worker.start_worker(url, prefix, q.name, 1)
    try:
        bench_worker.wait_registered(r, q.keys)
        q.enqueue("bench_worker:noop").wait(timeout=10)  # the worker's first task imports things
        time.sleep(0.05)
        out = []
        for _ in range(samples):
            t = time.perf_counter()
            q.enqueue("bench_worker:noop").wait(timeout=10)
            out.append((time.perf_counter() - t) * 1000)
            if proc.poll() is not None:
                raise RuntimeError("the benchmark worker died")
            time.sleep(pause)  # back to idle: blocked on the wake key
        return out
    finally:
        bench_worker.stop_worker(proc)


def _percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def run(bench, samples: int, pause: float = PAUSE) -> None:
    """One measurement into bench.results (bench.py's Bench)."""
    lat = latencies(bench.r, bench.url, bench.prefix, bench.queue("result"), samples, pause)
    bench.results["result_p50"].append(_percentile(lat, 50))
    bench.results["result_p99"].append(_percentile(lat, 99))
    bench.wipe()


def main() -> int:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import redis
    from bench import Bench, QUICK
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pause", type=float, default=PAUSE, help="seconds between samples")
    args = ap.parse_args()
    bench = Bench(redis.Redis.from_url(args.redis_url, decode_responses=True), QUICK, args.redis_url)
    try:
        for _ in range(args.runs):
            run(bench, args.samples, args.pause)
    finally:
        bench.wipe()
    for key in ROWS:
        runs = bench.results[key]
        print(f"{ROWS[key][0]:36} {statistics.median(runs):8.3f} ms   runs "
              + "  ".join(f"{v:.3f}" for v in runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
