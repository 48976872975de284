"""Soak run: steady load with a short retention; Redis memory must level off.

    python scripts/soak.py                       # 10 minutes at 200 tasks/s, keep 30 s
    python scripts/soak.py --minutes 1 --rate 100 --keep 5 --svg docs/images/soak.svg

It starts its own redis-server on a free loopback port (nothing saved), one
`taskq worker` and one `taskq scheduler` (whose upkeep enforces retention:
TASKQ_KEEP_COMPLETED / TASKQ_KEEP_FAILED = --keep seconds), and a producer
enqueueing no-op tasks at --rate a second, one in --fail-every failing for
good. Every --sample seconds it records Redis's used_memory and the queue's
size. At the end it compares the mean memory of the last third of the run
with the middle third: the run holds when it grew by less than
--tolerance (5 %), that is, memory reached a plateau. Prints the curve
(and writes it as CSV / SVG when asked); exit status 0 when it holds.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from taskq import Queue  # noqa: E402
from taskq.local.embedded import free_port, redis_server_path  # noqa: E402

BODY = "taskq.examples:noop"
FAIL_BODY = "taskq.examples:fail"


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([redis_server_path(), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(200):
        try:
            if redis.Redis.from_url(url).ping():
                return proc, url
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the soak's redis-server did not start")


def spawn(url: str, keep: float, log: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, REDIS_URL=url, PYTHONPATH=str(ROOT) + os.pathsep
               + os.environ.get("PYTHONPATH", ""), TASKQ_KEEP_COMPLETED=str(keep),
               TASKQ_KEEP_FAILED=str(keep))
    env.pop("TASKQ_PREFIX", None)
    return subprocess.Popen([sys.executable, "-m", "taskq.cli", *args], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))


def run(minutes: float, rate: float, keep: float, sample: float, fail_every: int,
        work: Path) -> dict:
    server, url = start_redis(work)
    procs = [spawn(url, keep, work / "worker.log", "worker", "-c", "8", "soak"),
             spawn(url, keep, work / "scheduler.log", "scheduler")]
    client = redis.Redis.from_url(url, decode_responses=True)
    q = Queue("soak", client)
    samples, sent = [], 0
    started = time.monotonic()
    next_sample = started
    try:
        while (now := time.monotonic()) - started < minutes * 60:
            due = int((now - started) * rate)
            batch = [{"func": FAIL_BODY if (sent + i) % fail_every == 0 else BODY,
                      "max_retries": 0} for i in range(due - sent)]
            if batch:
                q.enqueue_many(batch)
                sent += len(batch)
            if now >= next_sample:
                mem = client.info("memory")
                samples.append({"t": round(now - started, 1), "used_memory": mem["used_memory"],
                                "tasks": q.count(), "sent": sent})
                next_sample += sample
            for p in procs:
                if p.poll() is not None:
                    raise RuntimeError(f"a soak process exited ({p.args[3]}): see {work}")
            time.sleep(0.01)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        server.terminate()
        server.wait(30)
    third = max(1, len(samples) // 3)
    middle = statistics.mean(s["used_memory"] for s in samples[third:2 * third] or samples)
    last = statistics.mean(s["used_memory"] for s in samples[-third:])
    return {"minutes": minutes, "rate": rate, "keep": keep, "sent": sent, "samples": samples,
            "middle_mean": middle, "last_mean": last, "growth": last / middle - 1}


def svg(result: dict, path: Path) -> None:
    """A line chart of used_memory over time, drawn by hand (no plotting
    dependency)."""
    pts = result["samples"]
    w, h, pad = 640, 320, 48
    top = max(p["used_memory"] for p in pts) * 1.1
    end = max(p["t"] for p in pts) or 1
    xy = [(pad + (w - 2 * pad) * p["t"] / end, h - pad - (h - 2 * pad) * p["used_memory"] / top)
          for p in pts]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    mb = top / 1e6
    ticks = "".join(
        f'<text x="{pad - 6}" y="{h - pad - (h - 2 * pad) * f + 4:.1f}" text-anchor="end">'
        f"{mb * f:.1f}</text>" for f in (0, 0.25, 0.5, 0.75, 1))
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'font-family="sans-serif" font-size="11">'
        f'<rect width="{w}" height="{h}" fill="white"/>'
        f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="13">Redis used_memory (MB) '
        f'under {result["rate"]:g} tasks/s, retention {result["keep"]:g} s</text>'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>{ticks}'
        f'<text x="{w - pad}" y="{h - pad + 16}" text-anchor="end">{end:.0f} s</text>'
        f'<text x="{pad}" y="{h - pad + 16}">0 s</text>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{line}"/></svg>\n')


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--rate", type=float, default=200, help="tasks enqueued a second")
    p.add_argument("--keep", type=float, default=30, help="retention of finished tasks, s")
    p.add_argument("--sample", type=float, default=5, help="seconds between samples")
    p.add_argument("--fail-every", type=int, default=50, help="one task in N fails")
    p.add_argument("--tolerance", type=float, default=0.05)
    p.add_argument("--csv", type=Path)
    p.add_argument("--svg", type=Path)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="taskq-soak-") as tmp:
        result = run(args.minutes, args.rate, args.keep, args.sample, args.fail_every, Path(tmp))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            out = csv.DictWriter(f, fieldnames=["t", "used_memory", "tasks", "sent"])
            out.writeheader()
            out.writerows(result["samples"])
    if args.svg:
        svg(result, args.svg)
    holds = result["growth"] < args.tolerance
    if args.json:
        print(json.dumps(result))
    else:
        for s in result["samples"]:
            print(f"{s['t']:7.1f} s  {s['used_memory'] / 1e6:8.2f} MB  {s['tasks']:7d} tasks held  "
                  f"{s['sent']:8d} sent")
        print(f"memory, mean of the middle third {result['middle_mean'] / 1e6:.2f} MB, of the last "
              f"third {result['last_mean'] / 1e6:.2f} MB: {result['growth'] * 100:+.1f} % "
              f"({'plateau' if holds else 'STILL GROWING'})")
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
