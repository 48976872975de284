"""taskq beside BullMQ and Huey in one run, for scripts/bench.py --issue20.

Every measurement runs on the benchmark's private redis-server
(bench_server.PrivateRedis), one side after the other, ``runs`` times
alternating, and the median is kept:

  enqueue    tasks/s enqueued one at a time: q.enqueue / BullMQ queue.add /
             Huey's task call (one LPUSH from Python: about the floor of one
             round trip from a Python client)
  ceiling    the pipelined Lua ceiling: a trivial EVALSHA (``return 1``, one
             key, a small task's JSON as its argument) pipelined from Python
             in batches of 1,000: script calls/s, the most one Python client
             gets through Redis with one script call per task; bulk enqueue
             is reported as a fraction of it
  result     enqueue -> result in hand, on an idle worker (one process, one
             slot), random 0-20 ms gaps between samples: Task.wait / BullMQ
             job.waitUntilFinished(QueueEvents) / Huey result.get(blocking)
             with notify_result (BLPOP)
  timers     the same with delay=0.3 s (BullMQ: a delayed job, delay 300):
             milliseconds from the due time to the result in hand; and for
             taskq a retry's lateness: a task whose first attempt fails, with
             backoff="fixed", backoff_base=0.3, max_retries=1: milliseconds
             from 0.3 s after the first attempt to the second one starting
  drain      no-op tasks/s drained by one process each, best against best:
             ``taskq worker`` at a few settings (DRAIN_MODES, the best kept)
             against a BullMQ Worker at concurrency 50

Huey (HUEY_REQUIREMENT) is installed, when asked for, into its own
virtualenv in the benchmark cache (~/.cache/taskq-bench/huey-<version>),
never into taskq's; BullMQ as in scripts/bench_bullmq.py.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis

import bench_bullmq
import bench_worker
import taskq

HERE = Path(__file__).resolve().parent
HUEY_REQUIREMENT = "huey==3.5.4"
DRAIN_MODES = ((4, 100), (8, None), (32, 128))
"""taskq worker (--concurrency, --prefetch) settings tried for the best drain."""
CEILING_BATCH = 1000
TRIVIAL = "return 1"
SMALL_TASK = json.dumps({"func": "bench_worker:noop"})


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


# -- Huey ---------------------------------------------------------------------
def huey_python() -> str:
    """The Python of the benchmark's Huey virtualenv, made on first use."""
    version = HUEY_REQUIREMENT.split("==")[1]
    venv = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "taskq-bench" / \
        f"huey-{version}"
    py = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        log(f"  huey: installing {HUEY_REQUIREMENT} (and redis {redis.__version__}) into {venv}, "
            "a virtualenv of the benchmark's own; taskq does not depend on it")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        HUEY_REQUIREMENT, f"redis=={redis.__version__}"], check=True, timeout=600)
        (venv / ".installed").write_text(HUEY_REQUIREMENT)
    return str(py)


def _huey_env(url: str, name: str) -> dict:
    return dict(os.environ, BENCH_REDIS_URL=url, BENCH_HUEY_NAME=name,
                PYTHONPATH=str(HERE))


def huey_enqueue_rate(py: str, url: str, n: int) -> float:
    out = subprocess.run([py, str(HERE / "bench_huey.py"), "enqueue", str(n)], check=True,
                         env=_huey_env(url, f"enq{os.urandom(3).hex()}"), capture_output=True,
                         text=True, timeout=600)
    return float(json.loads(out.stdout)["rate"])


def huey_result_ms(py: str, url: str, n: int) -> list[float]:
    env = _huey_env(url, f"res{os.urandom(3).hex()}")
    consumer = subprocess.Popen([py, "-m", "huey.bin.huey_consumer", "bench_huey.huey", "-w", "1",
                                 "-k", "thread"], env=env, cwd=HERE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        out = subprocess.run([py, str(HERE / "bench_huey.py"), "result", str(n)], check=True,
                             env=env, capture_output=True, text=True, timeout=600)
        return json.loads(out.stdout)["ms"]
    finally:
        bench_worker.stop_worker(consumer)


# -- BullMQ (stdio modes of scripts/bullmq/bench.mjs) --------------------------
class Node:
    """One bench.mjs process in a stdio mode: ready, go, one JSON line out."""

    def __init__(self, folder, url: str, *args: str):
        self.proc = subprocess.Popen(bench_bullmq._node(folder, *args), env=bench_bullmq._env(url),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if '"ready"' not in line:
            self.close()
            raise RuntimeError(f"BullMQ's side did not start ({args[0]}): {line!r}")

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self) -> dict:
        out = json.loads(self.proc.stdout.readline())
        self.close()
        return out

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def bullmq_rate(folder, url: str, prefix: str, mode: str, n: int, *extra: str) -> float:
    node = Node(folder, url, mode, prefix, str(n), *extra)
    node.go()
    out = node.result()
    return out["done"] / out["seconds"]


def bullmq_result_ms(folder, url: str, prefix: str, n: int, delay_ms: int = 0) -> list[float]:
    worker = Node(folder, url, "serve", prefix, "1")
    try:
        worker.go()
        producer = Node(folder, url, "result", prefix, str(n), str(delay_ms))
        producer.go()
        return producer.result()["ms"]
    finally:
        worker.close()


# -- taskq ----------------------------------------------------------------------
def taskq_enqueue_rate(r, prefix: str, n: int) -> float:
    q = taskq.Queue(f"enq{os.urandom(3).hex()}", redis=r, prefix=prefix)
    q.enqueue("bench_worker:noop")
    t = time.perf_counter()
    for _ in range(n):
        q.enqueue("bench_worker:noop")
    return n / (time.perf_counter() - t)


def taskq_bulk_rate(r, prefix: str, n: int) -> float:
    q = taskq.Queue(f"bulk{os.urandom(3).hex()}", redis=r, prefix=prefix)
    q.enqueue("bench_worker:noop")
    batches = [[{"func": "bench_worker:noop"}] * min(1000, n - i) for i in range(0, n, 1000)]
    t = time.perf_counter()
    for batch in batches:
        q.enqueue_many(batch)
    return n / (time.perf_counter() - t)


def lua_ceiling(r, n: int) -> float:
    """Trivial EVALSHA calls per second, pipelined from Python in batches."""
    sha = r.script_load(TRIVIAL)
    t = time.perf_counter()
    for i in range(0, n, CEILING_BATCH):
        pipe = r.pipeline(transaction=False)
        for _ in range(min(CEILING_BATCH, n - i)):
            pipe.evalsha(sha, 1, "taskq-bench-ceiling", SMALL_TASK)
        pipe.execute()
    return n / (time.perf_counter() - t)


def taskq_result_ms(r, url: str, prefix: str, n: int, delay: float = 0.0) -> list[float]:
    """Milliseconds from enqueue (plus ``delay``) to Task.wait returning, on an
    idle ``taskq worker`` with one slot, random 0-20 ms gaps."""
    q = taskq.Queue(f"res{os.urandom(3).hex()}", redis=r, prefix=prefix)
    proc = bench_worker.start_worker(url, prefix, q.name, 1)
    try:
        bench_worker.wait_registered(r, q.keys)
        q.enqueue("bench_worker:noop").wait(timeout=10)  # imports done
        out = []
        for _ in range(n):
            time.sleep(random.random() * 0.02)
            t = time.perf_counter()
            q.enqueue("bench_worker:noop", delay=delay or None).wait(timeout=10 + delay)
            out.append((time.perf_counter() - t - delay) * 1000)
            if proc.poll() is not None:
                raise RuntimeError("the benchmark worker died")
        return out
    finally:
        bench_worker.stop_worker(proc)


def taskq_retry_late_ms(r, url: str, prefix: str, n: int, backoff: float = 0.3) -> list[float]:
    """Milliseconds past its backoff at which a failed task's retry starts:
    (second attempt's start - first attempt's start - backoff), on an idle
    worker with one slot, random 0-20 ms gaps. The first attempt's start is
    a little before its failure is recorded, so this reads high by the
    run-and-fail time of a no-op (well under a millisecond)."""
    q = taskq.Queue(f"retry{os.urandom(3).hex()}", redis=r, prefix=prefix)
    proc = bench_worker.start_worker(url, prefix, q.name, 1)
    try:
        bench_worker.wait_registered(r, q.keys)
        q.enqueue("bench_worker:noop").wait(timeout=10)
        out = []
        for i in range(n):
            time.sleep(random.random() * 0.02)
            key = f"{prefix}:bench:retry:{q.name}:{i}"
            q.enqueue("bench_worker:fail_once", key, max_retries=1, backoff="fixed",
                      backoff_base=backoff).wait(timeout=10 + backoff)
            first, second = (float(x) for x in r.lrange(key, 0, 1))
            out.append((second - first - backoff) * 1000)
        return out
    finally:
        bench_worker.stop_worker(proc)


def taskq_drain(r, url: str, prefix: str, n: int, concurrency: int, prefetch) -> float:
    q = taskq.Queue(f"drain{os.urandom(3).hex()}", redis=r, prefix=prefix)
    return bench_worker.drain(r, url, prefix, q, n, concurrency, 1000, prefetch)


# -- the comparison -------------------------------------------------------------
def run(server, runs: int, sizes: dict, with_huey: bool = True) -> dict:
    """Every peer measurement, ``runs`` times; medians and the runs."""
    folder = bench_bullmq.install()
    py = huey_python() if with_huey else None
    r, url = server.client, server.url
    raw: dict[str, list] = {}

    def keep(key: str, value) -> None:
        raw.setdefault(key, []).append(value)

    for i in range(runs):
        log(f"  peers: run {i + 1}/{runs}")
        p = f"peers{i}"
        server.flush()
        keep("enqueue_taskq", taskq_enqueue_rate(r, p, sizes["enqueue"]))
        keep("enqueue_bullmq", bullmq_rate(folder, url, p, "addone", sizes["enqueue"]))
        if py:
            keep("enqueue_huey", huey_enqueue_rate(py, url, sizes["enqueue"]))
        server.flush()
        keep("bulk_taskq", taskq_bulk_rate(r, p, sizes["bulk"]))
        keep("bulk_bullmq", bullmq_rate(folder, url, p, "addbulk", sizes["bulk"]))
        keep("ceiling", lua_ceiling(r, sizes["bulk"]))
        server.flush()
        for key, ms in (("result_taskq", taskq_result_ms(r, url, p, sizes["samples"])),
                        ("result_bullmq", bullmq_result_ms(folder, url, p, sizes["samples"])),
                        ("timer_taskq", taskq_result_ms(r, url, p, sizes["timers"], 0.3)),
                        ("retry_taskq", taskq_retry_late_ms(r, url, p, sizes["timers"])),
                        ("timer_bullmq", bullmq_result_ms(folder, url, p + "t", sizes["timers"], 300))):
            keep(f"{key}_p50", percentile(ms, 50))
            keep(f"{key}_p99", percentile(ms, 99))
        if py:
            ms = huey_result_ms(py, url, sizes["samples"])
            keep("result_huey_p50", percentile(ms, 50))
            keep("result_huey_p99", percentile(ms, 99))
        server.flush()
        for c, pf in DRAIN_MODES:
            keep(f"drain_taskq_c{c}", taskq_drain(r, url, p, sizes["drain"], c, pf))
            server.flush()
        keep("drain_bullmq", bullmq_rate(folder, url, p + "d", "drain", sizes["drain"],
                                         str(bench_bullmq.TUNED)))
        server.flush()
    med = {k: statistics.median(v) for k, v in raw.items()}
    best = max(DRAIN_MODES, key=lambda m: med[f"drain_taskq_c{m[0]}"])
    med["drain_taskq_best"] = med[f"drain_taskq_c{best[0]}"]
    version = json.loads((folder / "node_modules" / "bullmq" / "package.json").read_text())["version"]
    return {"median": med, "runs": raw, "sizes": sizes, "bullmq_version": version,
            "huey": HUEY_REQUIREMENT if py else None,
            "drain_best_mode": f"-c {best[0]}" + (f" --prefetch {best[1]}" if best[1] else "")}
