"""Redis time per task per operation, taskq beside BullMQ, for scripts/bench.py.

    python scripts/bench.py --redis-time-only [--quick] [--json] [--backlog]

Redis runs one command at a time, so the server time each task costs is the
ceiling of every throughput. This measures it with INFO commandstats on a
private redis-server (bench_server.PrivateRedis: commandstats are
server-wide, and there nothing but the benchmark runs; it is flushed between
operations). Each operation is set up (queue filled, worker started and
registered, node connected), then CONFIG RESETSTAT, then run, then INFO
commandstats; the figures are per task:

  script   usec of EVAL/EVALSHA/FCALL (and their _RO forms): the scripts'
           whole time, commands they call included
  cmds     usec of the commands sent outside scripts. Commands a script runs
           show in commandstats too; a small run of the same operation under
           MONITOR first tells, per command, which share of its calls came
           from clients, and only that share of its time is counted here
  calls    script calls and outside-script commands per task
  CPU      the server's CPU time (INFO cpu, user + system) over the
           operation per task: beside the commands, reading and parsing
           requests and writing replies, which commandstats leave out. Less
           disturbed by a busy machine than commandstats' usec (wall time
           inside each command, which grows when the server is preempted)

The benchmark's own commands (INFO, CONFIG, the MONITOR marks, its ZCARD
polls while a taskq worker drains) are left out. Operations (taskq / BullMQ
6.7, scripts/bullmq/bench.mjs over stdin, which sends nothing to Redis while
measured):

  enqueue  q.enqueue one at a time / queue.add one at a time
  bulk     q.enqueue_many, 1,000 per call / queue.addBulk, 1,000 per call
  claim1   q.claim(1) + lease.complete(), one task at a time, from this
           process / a Worker at concurrency 1 (one job at a time)
  drain    a ``taskq worker -c 4 --prefetch 100`` process / a Worker at
           concurrency 50 (the best of 1, 10, 50, 100 on the 2-core machine)

--backlog adds the same table with 1,000,000 tasks queued in the queue each
operation uses (built with pipelined bulk enqueue: enqueue_many of 10,000 /
addBulk with 8 calls in flight), one side at a time: up to about 1 GB of
Redis memory and 5-10 minutes. Each figure is the median of ``runs`` runs
(one with --backlog), the two sides alternating run by run (with
--backlog, taskq's side first, then BullMQ's).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import bench_bullmq
import bench_worker
import taskq
from bench_server import CallSplit, CountingRedis, command_stats, usage

NOOP = "bench_worker:noop"
CHUNK = 1000
BACKLOG = 1_000_000
DRAIN_CONCURRENCY, DRAIN_PREFETCH = 4, 100
BULLMQ_TUNED = bench_bullmq.TUNED

OPS = {  # key: (label, BullMQ mode and its extra arguments)
    "enqueue": ("single enqueue (q.enqueue / queue.add)", ("addone",)),
    "bulk": ("bulk enqueue (enqueue_many / addBulk, 1,000 a call)", ("addbulk",)),
    "claim1": ("claim(1)+complete / Worker concurrency 1", ("drain", "1")),
    "drain": (f"batched drain (taskq worker / Worker c={BULLMQ_TUNED})", ("drain", str(BULLMQ_TUNED))),
}
SIZES = {"enqueue": 2_000, "bulk": 20_000, "claim1": 2_000, "drain": 20_000}
QUICK_SIZES = {"enqueue": 1_000, "bulk": 10_000, "claim1": 1_000, "drain": 10_000}
CALIBRATION = {"enqueue": 200, "bulk": 2_000, "claim1": 200, "drain": 1_000}
"""Tasks in the MONITOR run that tells client calls from script calls."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def small(start: int, count: int) -> list[dict]:
    return [{"func": NOOP} for _ in range(start, start + count)]


class Ctx:
    """What an operation needs: the private server, a key prefix, and the
    queue to use (the backlog's, when there is one)."""

    def __init__(self, server, prefix: str = "rt", backlog: bool = False):
        self.server, self.r, self.url = server, server.client, server.url
        self.prefix, self.backlog, self.count = prefix, backlog, 0
        self.poller = CountingRedis.from_url(self.url, decode_responses=True)

    def queue(self, kind: str, client=None) -> taskq.Queue:
        name = "backlog" if self.backlog else f"{kind}-{self.count}"
        self.count += 1
        return taskq.Queue(name, redis=client or self.r, prefix=self.prefix)

    def fill(self, q: taskq.Queue, n: int, chunk: int = CHUNK) -> None:
        for i in range(0, n, chunk):
            q.enqueue_many(small(i, min(chunk, n - i)))


# -- taskq operations: generators that set up, yield, run, yield (tasks, s) --
def tq_enqueue(ctx: Ctx, n: int):
    q = ctx.queue("enqueue")
    q.enqueue(NOOP)  # the queue is registered, as any queue in use
    yield
    t = time.perf_counter()
    for _ in range(n):
        q.enqueue(NOOP)
    yield n, time.perf_counter() - t


def tq_bulk(ctx: Ctx, n: int):
    q = ctx.queue("bulk")
    q.enqueue(NOOP)
    batches = [small(i, min(CHUNK, n - i)) for i in range(0, n, CHUNK)]
    yield
    t = time.perf_counter()
    for batch in batches:
        q.enqueue_many(batch)
    yield n, time.perf_counter() - t


def tq_claim1(ctx: Ctx, n: int):
    q = ctx.queue("claim1")
    if not ctx.backlog:
        ctx.fill(q, n)
    yield
    t = time.perf_counter()
    for _ in range(n):
        q.claim(1)[0].complete()
    yield n, time.perf_counter() - t


def tq_drain(ctx: Ctx, n: int):
    q = ctx.queue("drain")
    poll = taskq.Queue(q.name, redis=ctx.poller, prefix=ctx.prefix)
    q.pause()
    if not ctx.backlog:
        ctx.fill(q, n)
    base = q.count("completed")
    proc = bench_worker.start_worker(ctx.url, ctx.prefix, q.name, DRAIN_CONCURRENCY, DRAIN_PREFETCH)
    try:
        bench_worker.wait_registered(ctx.r, q.keys)
        yield
        t = time.perf_counter()
        q.resume()
        while (done := poll.count("completed") - base) < n:
            if proc.poll() is not None or poll.count("failed"):
                raise RuntimeError("the benchmark worker died or a task failed")
            time.sleep(0.02)
        yield done, time.perf_counter() - t
    finally:
        q.pause()  # with a backlog, the worker would go on
        bench_worker.stop_worker(proc)


TASKQ_OPS = {"enqueue": tq_enqueue, "bulk": tq_bulk, "claim1": tq_claim1, "drain": tq_drain}


def bullmq_op(folder, mode_args: tuple, queued: bool):
    """The BullMQ side of an operation, as a generator like the taskq ones."""
    def op(ctx: Ctx, n: int):
        args = [*mode_args[:1], ctx.prefix, str(n), *mode_args[1:]]
        if queued and mode_args[0] == "drain":
            args.append("queued")
        proc = subprocess.Popen(bench_bullmq._node(folder, *args), env=bench_bullmq._env(ctx.url),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            ready = proc.stdout.readline()
            if '"ready"' not in ready:
                raise RuntimeError(f"BullMQ's side did not start ({mode_args[0]}): {ready!r}")
            yield
            proc.stdin.write("go\n")
            proc.stdin.flush()
            out = json.loads(proc.stdout.readline())
            proc.wait(60)  # its last commands (close) are counted too
            yield out["done"], out["seconds"]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return op


def measure(ctx: Ctx, op, n: int, split: dict[str, float]) -> dict[str, float]:
    gen = op(ctx, n)
    next(gen)
    ctx.poller.sent.clear()
    ctx.r.config_resetstat()
    cpu = bench_worker.redis_cpu(ctx.r)
    done, seconds = next(gen)
    stats = command_stats(ctx.r)
    cpu = bench_worker.redis_cpu(ctx.r) - cpu
    own = ctx.poller.sent.copy()
    gen.close()
    return dict(usage(stats, done, seconds, split, own).per_task(), cpu_us=cpu * 1e6 / max(done, 1))


def calibrate(ctx: Ctx, op, n: int) -> dict[str, float]:
    """Per command, the share of its calls sent by clients (MONITOR run)."""
    gen = op(ctx, n)
    next(gen)
    split = CallSplit(ctx.url)
    try:
        split.start()
        next(gen)
    finally:
        shares = split.stop()
        gen.close()
    return shares


def fill_backlog(ctx: Ctx, side: str, folder) -> None:
    t = time.perf_counter()
    if side == "taskq":
        ctx.fill(ctx.queue("backlog"), BACKLOG, chunk=10_000)  # one pipeline of 10 scripts a call
    else:
        subprocess.run(bench_bullmq._node(folder, "fill", ctx.prefix, str(BACKLOG)),
                       env=bench_bullmq._env(ctx.url), check=True, stdout=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL, timeout=1800)
    log(f"  redis time: {BACKLOG:,} queued for {side} in {time.perf_counter() - t:.0f} s")


def run_table(server, runs: int, sizes: dict, backlog: bool = False, folder=None,
              sides: tuple = ("taskq", "bullmq")) -> dict:
    """One table: per operation, each side's per-task figures (medians)."""
    ops_by_side = {"taskq": TASKQ_OPS}
    if "bullmq" in sides:
        folder = folder or bench_bullmq.install()
        ops_by_side["bullmq"] = {k: bullmq_op(folder, OPS[k][1], backlog) for k in OPS}
    raw = {k: {s: [] for s in ops_by_side} for k in OPS}
    if backlog:  # one side's backlog at a time (memory)
        for side, ops in ops_by_side.items():
            ctx = Ctx(server, prefix=f"rt{side}", backlog=True)
            server.flush()
            fill_backlog(ctx, side, folder)
            for key, op in ops.items():
                log(f"  redis time at 1M queued: {side} {key}")
                split = calibrate(ctx, op, min(CALIBRATION[key], sizes[key]))
                raw[key][side].append(measure(ctx, op, sizes[key], split))
    else:  # the sides alternate run by run, so machine noise hits both alike
        ctxs = {side: Ctx(server, prefix=f"rt{side}") for side in ops_by_side}
        for key in OPS:
            splits = {}
            for side, ops in ops_by_side.items():
                splits[side] = calibrate(ctxs[side], ops[key], min(CALIBRATION[key], sizes[key]))
                server.flush()
            for i in range(runs):
                for side in (list(ops_by_side) if i % 2 == 0 else list(ops_by_side)[::-1]):
                    log(f"  redis time: {side} {key}, run {i + 1}/{runs}")
                    raw[key][side].append(measure(ctxs[side], ops_by_side[side][key], sizes[key],
                                                  splits[side]))
                    server.flush()
    server.flush()
    ops_out = {}
    for key, by_side in raw.items():
        med = {s: {f: statistics.median(r[f] for r in rows) for f in rows[0]}
               for s, rows in by_side.items()}
        both = "bullmq" in med
        ops_out[key] = dict(label=OPS[key][0], tasks=sizes[key], runs=by_side, **med,
                            ratio=med["taskq"]["total_us"] / med["bullmq"]["total_us"] if both else None,
                            script_ratio=med["taskq"]["script_us"] / med["bullmq"]["script_us"]
                            if both else None)
    version = None
    if folder:
        version = json.loads((folder / "node_modules" / "bullmq" / "package.json").read_text())["version"]
    return {"backlog": BACKLOG if backlog else 0, "redis": server.describe(),
            "bullmq_version": version, "runs": runs, "ops": ops_out}


def run(server, runs: int, quick: bool = False, backlog: bool = False) -> list[dict]:
    sizes = QUICK_SIZES if quick else SIZES
    folder = bench_bullmq.install()
    tables = [run_table(server, runs, sizes, False, folder)]
    if backlog:
        tables.append(run_table(server, 1, sizes, True, folder))
    return tables


def _calls(x: float) -> str:
    return f"{x:.2f}" if x >= 0.01 or x == 0 else f"{x:.3f}"


def print_table(data: dict) -> None:
    where = f", {data['backlog']:,} queued" if data["backlog"] else ""
    print(f"\nRedis time per task, µs{where} (INFO commandstats; {data['redis']}; "
          f"BullMQ {data['bullmq_version']}; median of {data['runs']} run(s))")
    head = (f"{'operation':52} {'taskq: script + cmds = total':>28} {'calls':>11} {'CPU':>6}   "
            f"{'BullMQ: script + cmds = total':>29} {'calls':>11} {'CPU':>6}  {'ratio':>5}  "
            f"{'tasks/s':>15}")
    print(head)
    print("-" * len(head))
    for r in data["ops"].values():
        cells = []
        for s in ("taskq", "bullmq"):
            v = r.get(s)
            cells.append(f"{v['script_us']:11.1f} + {v['command_us']:5.1f} = {v['total_us']:6.1f} "
                         f"{_calls(v['script_calls']):>5}+{_calls(v['command_calls']):<5} "
                         f"{v.get('cpu_us', 0):6.1f}" if v else "")
        ratio = f"{r['ratio']:5.2f}" if r["ratio"] is not None else ""
        rates = " / ".join(f"{r[s]['rate']:,.0f}" for s in ("taskq", "bullmq") if s in r)
        print(f"{r['label']:52} {cells[0]:>47}   {cells[1]:>48}  {ratio:>5}  {rates:>15}")
    print("ratio: taskq total / BullMQ total; calls: script calls + other commands per task; "
          "CPU: the server's CPU µs per task; tasks/s: taskq / BullMQ, wall clock in the same pass")
