"""arq and SAQ for scripts/bench_async.py: the I/O-bound drain of N jobs
that each ``await asyncio.sleep(0.05)``, by ONE worker process.

peers_python() (called from taskq's venv, stdlib only) is the Python of a
virtualenv of the benchmark's own, ~/.cache/taskq-bench/async-peers-<pins>,
made on first use (PEERS and the redis they pick) and marked by its
``.installed`` stamp, as bench_peers.huey_python makes Huey's: taskq does
not depend on them. This file, run with that Python:

    BENCH_REDIS_URL=URL python bench_async_peers.py arq|saq N TAG    one JSON out

enqueues N jobs (arq: enqueue_job, CHUNK at a time with asyncio.gather, as
arq has no bulk call; SAQ: Queue.enqueue the same way, throttled by its own
max_concurrent_ops), then starts one worker process: arq Worker(max_jobs=1000,
keep_result=0, log_results=False), SAQ Worker(concurrency=1000) with jobs
enqueued at ttl=-1 (deleted when done); the rest are each library's defaults.

Method: each job reads time.time() as its body starts and after its sleep.
The worker keeps only the count, the earliest start, the latest finish and
the summed durations in memory (no write per job, so it costs the peer
nothing); the job that brings the count to N pushes them, once, to a list
the controller BLPOPs. rate = N / (last finish - first start): worker
start-up is outside it, as are the library's dequeue before the first body
and its completion write after the last (a few ms; taskq's window, read
from its task hashes, includes its own).

Keys: arq's queue is TAG (its health-check key TAG:health-check) and its
job ids start with TAG, so arq:*:TAG-* are this run's; SAQ's queue is TAG
(saq:TAG:*, saq:job:TAG:*). Job or result keys still there after the drain
are reported as "left" (0 when nothing is kept); all are deleted at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEERS = ("arq==0.28.0", "saq[redis]==0.26.4", "typing_extensions")
"""SAQ imports typing_extensions without requiring it."""
CONCURRENCY = 1000
CHUNK = 200
"""Enqueue calls in flight at once (arq would open a connection for each)."""
STATE = {"n": 0, "first": float("inf"), "last": 0.0, "busy": 0.0}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def peers_python() -> str:
    """The Python of the benchmark's arq + SAQ virtualenv, made on first use."""
    pins = "-".join(p.replace("[redis]", "").replace("==", "") for p in PEERS if "==" in p)
    venv = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "taskq-bench" / \
        f"async-peers-{pins}"
    py, stamp, wanted = venv / "bin" / "python", venv / ".installed", " ".join(PEERS)
    if not (stamp.exists() and stamp.read_text() == wanted):
        log(f"  async peers: installing {' '.join(PEERS)} into {venv}, a virtualenv of the "
            "benchmark's own; taskq does not depend on them")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        *PEERS], check=True, timeout=600)
        stamp.write_text(wanted)
    return str(py)


# -- the job, and the worker processes ----------------------------------------
async def sleep50(ctx) -> None:
    t0 = time.time()
    await asyncio.sleep(0.05)
    t1 = time.time()
    s = STATE
    s["n"] += 1
    s["first"], s["last"], s["busy"] = min(s["first"], t0), max(s["last"], t1), s["busy"] + t1 - t0
    if s["n"] == int(os.environ["BENCH_N"]):
        client = ctx["redis"] if "redis" in ctx else ctx["worker"].queue.redis
        await client.rpush(os.environ["BENCH_DONE_KEY"], json.dumps(s))


def arq_worker() -> None:
    from arq.connections import RedisSettings
    from arq.worker import Worker

    Worker([sleep50], queue_name=os.environ["BENCH_TAG"], max_jobs=CONCURRENCY, keep_result=0,
           log_results=False,
           redis_settings=RedisSettings.from_dsn(os.environ["BENCH_REDIS_URL"])).run()


def saq_worker() -> None:
    from saq import Queue, Worker

    async def main() -> None:
        queue = Queue.from_url(os.environ["BENCH_REDIS_URL"], name=os.environ["BENCH_TAG"])
        await queue.connect()
        try:
            await Worker(queue, [sleep50], concurrency=CONCURRENCY).start()
        finally:
            await queue.disconnect()

    asyncio.run(main())


# -- the controller -------------------------------------------------------------
async def chunked(calls, n: int) -> None:
    for i in range(0, n, CHUNK):
        await asyncio.gather(*(calls(j) for j in range(i, min(n, i + CHUNK))))


async def arq_fill(url: str, tag: str, n: int) -> None:
    from arq import create_pool
    from arq.connections import RedisSettings

    pool = await create_pool(RedisSettings.from_dsn(url), default_queue_name=tag)
    try:
        await chunked(lambda i: pool.enqueue_job("sleep50", _job_id=f"{tag}-{i}"), n)
    finally:
        await pool.aclose()


async def saq_fill(url: str, tag: str, n: int) -> None:
    from saq import Queue

    queue = Queue.from_url(url, name=tag)
    await queue.connect()
    try:
        await chunked(lambda _: queue.enqueue("sleep50", ttl=-1), n)
    finally:
        await queue.disconnect()


PATTERNS = {"arq": ("arq:*:{tag}-*", "{tag}", "{tag}:*"), "saq": ("saq:job:{tag}:*", "saq:{tag}:*")}
"""Per peer: its job and result keys first, then everything else of the run."""


async def keys(r, pattern: str) -> list:
    return [k async for k in r.scan_iter(match=pattern, count=1000)]


async def control(peer: str, n: int, url: str, tag: str) -> dict:
    import redis.asyncio as aioredis

    r = aioredis.from_url(url)
    done_key = f"{tag}:done"
    errors = tempfile.TemporaryFile()
    proc = None
    try:
        t = time.perf_counter()
        await (arq_fill if peer == "arq" else saq_fill)(url, tag, n)
        enqueue_s = time.perf_counter() - t
        env = dict(os.environ, BENCH_N=str(n), BENCH_DONE_KEY=done_key, BENCH_TAG=tag,
                   BENCH_REDIS_URL=url)
        proc = subprocess.Popen([sys.executable, __file__, f"{peer}-worker"], env=env,
                                stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
        deadline = time.monotonic() + 60 + n * 0.01
        while True:
            got = await r.blpop([done_key], timeout=1)
            if got:
                stamps = json.loads(got[1])
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                errors.seek(0)
                tail = errors.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{peer} worker did not finish {n} jobs "
                                   f"(exit {proc.poll()}): {tail}")
        # the last jobs' completion writes come after their bodies: up to 5 s for them
        pending = tag if peer == "arq" else f"saq:{tag}:incomplete"
        for _ in range(50):
            if not await r.zcard(pending):
                break
            await asyncio.sleep(0.1)
        stop(proc)
        left = len(await keys(r, PATTERNS[peer][0].format(tag=tag)))
        window = stamps["last"] - stamps["first"]
        return {"peer": peer, "n": n, "rate": n / window, "window_s": window,
                "job_mean_ms": 1000 * stamps["busy"] / stamps["n"],
                "enqueue_rate": n / enqueue_s, "left": left}
    finally:
        if proc is not None and proc.poll() is None:
            stop(proc)
        for pattern in PATTERNS[peer]:
            found = await keys(r, pattern.format(tag=tag))
            for i in range(0, len(found), 1000):
                await r.unlink(*found[i:i + 1000])
        await r.aclose()


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM (both stop warm on it), SIGKILL 15 s later."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def versions() -> dict:
    from importlib.metadata import version

    return {p: version(p) for p in ("arq", "saq", "redis")}


def main() -> int:
    mode = sys.argv[1]
    if mode in ("arq-worker", "saq-worker"):
        (arq_worker if mode == "arq-worker" else saq_worker)()
        return 0
    if mode == "versions":
        print(json.dumps(versions()))
        return 0
    if mode not in ("arq", "saq"):
        print(f"unknown mode {mode}", file=sys.stderr)
        return 2
    n, url, tag = int(sys.argv[2]), os.environ["BENCH_REDIS_URL"], sys.argv[3]
    print(json.dumps(asyncio.run(control(mode, n, url, tag))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
