"""RQ baseline for scripts/bench.py (``--rq``): the taskq ``rq worker``
classes beside RQ's own workers, on the same Redis, in the same run.

For each pair, N no-op jobs are drained by two ``rq worker --burst``
processes started together:

  rq Worker           N jobs enqueued with RQ's own Queue, RQ's forking Worker
  TaskqWorker         N taskq tasks, ``-w workers.rq_worker.TaskqWorker``
  rq SimpleWorker     N RQ jobs, ``-w rq.worker.SimpleWorker``
  TaskqSimpleWorker   N taskq tasks, ``-w workers.rq_worker.TaskqSimpleWorker``

The simple workers get SIMPLE_FACTOR times N (they are that much faster,
and a run of a second would measure the machine's noise). The clock starts
when both processes have registered (so interpreter start-up is not
counted) and stops when the last job is finished (RQ's finished registry;
taskq's completed count), polled every 5 ms. Beside tasks/s, the CPU time
(user + system) of the worker processes and their horses per task over
the same span, which a busy machine disturbs less than wall time. Both sides log at RQ's default
level to /dev/null; the no-op lives in scripts/bench_noop.py. RQ's keys
carry a per-run token (queue, job and worker names) and are deleted at the
end, as is the taskq prefix; nothing is flushed. The four modes run in
turn, ``runs`` times, RQ first in odd runs and taskq first in even ones,
and the median of each is reported with the taskq/RQ ratios.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time

import redis

import taskq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PROCESSES = 2
SIMPLE_FACTOR = 5
NOOP = "bench_noop.noop"  # RQ's dotted form
TASKQ_NOOP = "bench_noop:noop"

MODES = {  # key: (label, worker class, taskq?)
    "rq_fork": ("RQ Worker (fork per job)", "rq.worker.Worker", False),
    "taskq_fork": ("TaskqWorker (fork per task)", "workers.rq_worker.TaskqWorker", True),
    "rq_simple": ("RQ SimpleWorker", "rq.worker.SimpleWorker", False),
    "taskq_simple": ("TaskqSimpleWorker", "workers.rq_worker.TaskqSimpleWorker", True),
}
RATIOS = {"fork": ("taskq_fork", "rq_fork"), "simple": ("taskq_simple", "rq_simple")}
ORDERS = (("rq_fork", "taskq_fork", "rq_simple", "taskq_simple"),
          ("taskq_fork", "rq_fork", "taskq_simple", "rq_simple"))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_seconds(procs: list[subprocess.Popen]) -> float:
    """User + system time of the worker processes and of the horses they
    have reaped (Linux /proc; sampled while the workers run, so start-up
    before the clock starts is left out)."""
    total = 0
    for p in procs:
        try:
            with open(f"/proc/{p.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


class RQBench:
    def __init__(self, url: str, prefix: str, n: int, runs: int, modes=tuple(MODES)):
        self.url, self.prefix, self.n, self.runs, self.modes = url, prefix, n, runs, modes
        self.token = f"tqbench{os.getpid()}x{os.urandom(3).hex()}"
        self.raw = redis.Redis.from_url(url)  # RQ keeps bytes (pickles)
        self.r = redis.Redis.from_url(url, decode_responses=True)
        self.results: dict[str, list[float]] = {k: [] for k in modes}
        self.cpu: dict[str, list[float]] = {k: [] for k in modes}
        self.count = 0

    # -- one measurement -----------------------------------------------------
    def size(self, mode: str) -> int:
        return self.n * (SIMPLE_FACTOR if mode.endswith("simple") else 1)

    def fill(self, mode: str, qname: str, n: int) -> callable:
        """Enqueue n no-ops; returns a function counting the finished ones."""
        if MODES[mode][2]:
            q = taskq.Queue(qname, redis=self.r, prefix=self.prefix)
            for i in range(0, n, 1000):
                q.enqueue_many([{"func": TASKQ_NOOP} for _ in range(min(1000, n - i))])
            return lambda: q.count("completed")
        from rq import Queue

        rq_q = Queue(qname, connection=self.raw)
        for i in range(0, n, 1000):
            rq_q.enqueue_many([Queue.prepare_data(NOOP, job_id=f"{qname}-{j}")
                               for j in range(i, min(i + 1000, n))])
        finished = f"rq:finished:{qname}"
        return lambda: self.raw.zcard(finished)

    def measure(self, mode: str) -> tuple[float, float]:
        """(tasks/s, CPU ms per task) of one drain."""
        self.count += 1
        qname = f"{self.token}-{mode}-{self.count}"
        n = self.size(mode)
        done = self.fill(mode, qname, n)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKQ_", "RQ_"))}
        env.update(TASKQ_PREFIX=self.prefix,
                   PYTHONPATH=os.pathsep.join([HERE, ROOT, os.environ.get("PYTHONPATH", "")]))
        names = [f"{qname}-w{i}" for i in range(PROCESSES)]
        procs = [subprocess.Popen(
            [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", self.url,
             "-w", MODES[mode][1], "--name", name, qname],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True) for name in names]
        try:
            deadline = time.monotonic() + 30
            while not all(self.raw.exists(f"rq:worker:{name}") for name in names):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"{mode}: the rq workers did not register")
                time.sleep(0.005)
            t, cpu0 = time.perf_counter(), cpu_seconds(procs)
            while done() < n:
                if all(p.poll() is not None for p in procs):
                    raise RuntimeError(f"{mode}: the workers exited with {done()}/{n} done")
                time.sleep(0.005)
            rate, cpu = n / (time.perf_counter() - t), cpu_seconds(procs) - cpu0
        finally:
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
            self.wipe()
        return rate, cpu / n * 1000

    def wipe(self) -> None:
        """Delete RQ's keys of this run (every one names the token), taskq's prefix."""
        for pattern in (f"*{self.token}*", f"{self.prefix}:*"):
            batch = list(self.raw.scan_iter(match=pattern, count=1000))
            for i in range(0, len(batch), 1000):
                self.raw.unlink(*batch[i:i + 1000])
        for key in (b"rq:workers", b"rq:queues"):
            members = [m for m in self.raw.smembers(key) if self.token.encode() in m]
            if members:
                self.raw.srem(key, *members)

    # -- the whole comparison ---------------------------------------------------
    def run(self) -> dict:
        try:
            for i in range(self.runs):
                for mode in [m for m in ORDERS[i % 2] if m in self.modes]:  # interleaved, so
                    # machine noise hits every mode alike
                    log(f"  rq baseline: {MODES[mode][0]}, run {i + 1}/{self.runs}")
                    rate, cpu = self.measure(mode)
                    self.results[mode].append(rate)
                    self.cpu[mode].append(cpu)
        finally:
            self.wipe()
        medians = {k: statistics.median(v) for k, v in self.results.items()}
        return {
            "tasks": {k: self.size(k) for k in self.modes}, "processes": PROCESSES,
            "results": {k: {"label": MODES[k][0], "worker_class": MODES[k][1], "unit": "tasks/s",
                            "median": medians[k], "runs": v, "tasks": self.size(k),
                            "cpu_ms_per_task": statistics.median(self.cpu[k]),
                            "cpu_runs": self.cpu[k]} for k, v in self.results.items()},
            "ratios": {k: medians[a] / medians[b] for k, (a, b) in RATIOS.items()
                       if a in medians and b in medians},
        }


def run(url: str, prefix: str, n: int, runs: int, modes=tuple(MODES)) -> dict:
    return RQBench(url, prefix, n, runs, modes).run()


def print_table(data: dict) -> None:
    print(f"\nrq worker classes vs RQ's own, no-op jobs, {data['processes']} processes each, "
          "median shown")
    head = f"{'worker':30} {'jobs':>6} {'median':>8}  {'unit':8} {'CPU/task':>9}  runs"
    print(head)
    print("-" * (len(head) + 24))
    for r in data["results"].values():
        runs = "  ".join(f"{v:,.0f}" for v in r["runs"])
        print(f"{r['label']:30} {r['tasks']:>6,} {r['median']:>8,.0f}  {r['unit']:8} "
              f"{r['cpu_ms_per_task']:>6.2f} ms  {runs}")
    print("taskq/RQ: " + ", ".join(f"{'forking' if k == 'fork' else k} {v:.2f}x"
                                   for k, v in data["ratios"].items()))
