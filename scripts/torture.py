"""Torture run: taskq under worker SIGKILLs, scheduler-leader kills and Redis
restarts, then checks that nothing acknowledged was lost or completed twice.

    python scripts/torture.py                          # CI size: 5,000 tasks, 5 kills, 2 restarts
    python scripts/torture.py --tasks 100000 --kills 20 --leader-kills 2 --restarts 2

It starts its own redis-server on a free loopback port (AOF on,
``appendfsync always``), a mix of `taskq worker` pool processes and forking
`rq worker` processes on two queues (every other one lists them the other
way round), and two `taskq scheduler` processes.
A producer enqueues mixed tasks (priorities, delays, planned failures with
retries, dependency chains and diamonds across the queues, a concurrency key
of limit 1) while the chaos loop SIGKILLs a random worker every few seconds
(and starts a replacement), SIGKILLs the scheduler leader, and restarts
Redis (first with SHUTDOWN, then with SIGKILL). Task bodies
(scripts/torture_tasks.py) note each execution in a side channel.

Checks (each must be 0): acknowledged but never finished, finished with an
unexpected outcome, completed twice (accepted completions counted by the
engine vs completed tasks), dependents started before a dependency
completed, overlapping runs of one concurrency key, tasks left running,
long-running processes that exited on their own, tracebacks in the
process logs (other than those of planned task failures). Reported besides: bodies
that ran more often than their planned attempts (allowed: at-least-once),
recovery time after each worker kill (until every task it held was running
elsewhere or done) and after each Redis restart (until completions resumed).
Exit status 0 when every check holds; ``--json`` prints the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from taskq import Keys, Queue, retention  # noqa: E402
from taskq.local.embedded import free_port, redis_server_path  # noqa: E402
from taskq.ids import new_task_id  # noqa: E402
from taskq.worker_registry import WorkerRegistry  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from torture_checks import (FAILING, TERMINAL, all_ended, check, recovery_figures,  # noqa: E402,F401
                            tracebacks)

QUEUES = ("tq_a", "tq_b")
BODY = "torture_tasks:work"
ASYNC_BODY = "torture_tasks:awork"
ASYNC_SHARE = 0.3
"""Tasks whose body is the async def twin (run on the workers' event loops)."""
CKEYS = ("ck0", "ck1", "ck2")
OUTAGE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)


def log(msg: str) -> None:
    print(f"[torture {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- the Redis server -------------------------------------------------------
class Server:
    """A redis-server of our own: AOF on, every write fsynced before the reply."""

    def __init__(self, work: Path):
        self.port, self.dir = free_port(), work / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        """Start and wait until it answers (AOF loaded); returns seconds taken."""
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [redis_server_path(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "always",
             "--save", "", "--protected-mode", "no"],
            stdout=open(self.dir / "server.log", "a"), stderr=subprocess.STDOUT)
        c = redis.Redis.from_url(self.url, socket_timeout=2)
        while True:
            try:
                c.ping()
                c.close()
                return time.monotonic() - t0
            except OUTAGE:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited; see {self.dir / 'server.log'}")
                time.sleep(0.05)

    def stop(self, how: str) -> None:
        """'shutdown' (the AOF is flushed) or 'kill' (SIGKILL; appendfsync always
        means every acknowledged write is on disk already)."""
        if how == "shutdown":
            try:
                redis.Redis.from_url(self.url).shutdown()
            except redis.RedisError:
                pass
        else:
            self.proc.kill()
        self.proc.wait(30)


# -- the processes under test -------------------------------------------------
class Fleet:
    """Workers and schedulers, each with its own log; replacements on demand."""

    def __init__(self, url: str, work: Path, pool_workers: int, rq_workers: int, threads: int):
        self.url, self.work, self.threads = url, work, threads
        self.env = dict(os.environ, REDIS_URL=url, PYTHONPATH=os.pathsep.join(
            [str(ROOT), str(ROOT / "scripts"), os.environ.get("PYTHONPATH", "")]))
        self.env.pop("TASKQ_PREFIX", None)
        # every task is checked at the end: retention keeps them all
        self.env.update({k: "none" for k in retention.ENV.values()})
        self.procs: dict[int, tuple[str, subprocess.Popen]] = {}
        self.killed: set[int] = set()
        self.n = 0
        for _ in range(pool_workers):
            self.spawn("pool")
        for _ in range(rq_workers):
            self.spawn("rq")
        for _ in range(2):
            self.spawn("scheduler")

    def spawn(self, kind: str) -> int:
        self.n += 1
        # Workers serve their queues in the order given, the next only while
        # the first is empty: alternate the order, so a backlog on one queue
        # does not leave the other (and a restart's probe on it) waiting.
        queues = QUEUES if self.n % 2 else QUEUES[::-1]
        if kind == "pool":
            argv = [sys.executable, "-m", "taskq.cli", "worker", "-c", str(self.threads),
                    "-P", str(ROOT / "scripts"), *queues]
        elif kind == "rq":
            argv = [str(Path(sys.executable).parent / "rq"), "worker", "-w",
                    "workers.rq_worker.TaskqWorker", "--url", self.url,
                    "--path", str(ROOT / "scripts"), *queues]
        else:
            argv = [sys.executable, "-m", "taskq.cli", "scheduler"]
        out = open(self.work / f"{kind}-{self.n}.log", "w")
        p = subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs[p.pid] = (kind, p)
        return p.pid

    def workers(self) -> list[int]:
        """Live workers to kill (one that exited on its own is never picked,
        so a kill cannot hide it from the died check)."""
        return [pid for pid, (k, p) in self.procs.items()
                if k != "scheduler" and pid not in self.killed and p.poll() is None]

    def kill(self, pid: int) -> None:
        kind, p = self.procs[pid]
        self.killed.add(pid)
        os.kill(pid, signal.SIGKILL)  # the process only: a horse dies with its parent
        p.wait()
        self.spawn(kind)

    def died_on_their_own(self) -> list[str]:
        return [f"{k} pid {pid} (exit {p.returncode})" for pid, (k, p) in self.procs.items()
                if pid not in self.killed and p.poll() is not None]

    def stop(self) -> None:
        live = [p for pid, (_, p) in self.procs.items() if pid not in self.killed]
        for p in live:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in live:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def logs(self) -> str:
        return "".join(f.read_text(errors="replace") for f in sorted(self.work.glob("*-*.log")))


# -- the producer ---------------------------------------------------------------
class Producer:
    """Enqueues rounds of mixed tasks; a round is acknowledged only once its
    enqueue calls returned (a call cut off by a restart is retried with the
    same task ids: the script wrote all of a batch or none of it)."""

    def __init__(self, url: str, side: Path, total: int, rng: random.Random):
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
        self.q = {name: Queue(name, self.client) for name in QUEUES}
        self.side, self.total, self.rng = str(side), total, rng
        # its own sequence: the run's plan (rng) is the same with or without async bodies
        self.body_rng = random.Random(total)
        self.expected: dict[str, str] = {}  # acknowledged id -> final status planned
        self.planned: dict[str, int] = {}  # id -> attempts its body needs
        self.edges: list[tuple[str, str]] = []  # (dependency, dependent)
        self.made = 0

    def _task(self, queue: str, deps=(), ckey: str = "", fail: int = 0, delay: float = 0,
              retries: int = 6) -> dict:
        tid = new_task_id(queue)
        body = ASYNC_BODY if self.body_rng.random() < ASYNC_SHARE else BODY
        spec = dict(func=body, task_id=tid, args=[self.side, self.rng.choice((0, 1, 2, 5, 10)),
                                                  fail, ckey],
                    priority=self.rng.randint(0, 9), max_retries=retries,
                    backoff="fixed", backoff_base=0.2)
        if deps:
            spec["depends_on"] = list(deps)
        if ckey:
            spec.update(concurrency_key=ckey, concurrency_limit=1)
        if delay:
            spec["delay"] = delay
        self.planned[tid] = fail + 1 if fail < 90 else retries + 1
        self.made += 1
        return spec

    def round(self, size: int = 100) -> None:
        """About ``size`` tasks in three enqueue calls, so a dependent always
        finds its cross-queue dependencies already there."""
        a1, b, a2 = [], [], []
        final: dict[str, str] = {}
        while self.made < self.total and len(a1) + len(b) + len(a2) < size:
            r = self.rng.random()
            if r < 0.45:
                t = self._task(self.rng.choice(QUEUES))
                (a1 if t["task_id"].startswith("tq_a") else b).append(t)
            elif r < 0.55:
                a1.append(self._task("tq_a", delay=self.rng.uniform(0.2, 2.0)))
            elif r < 0.65:
                b.append(self._task("tq_b", fail=self.rng.choice((1, 2))))
            elif r < 0.68:
                t = self._task("tq_a", fail=99, retries=1)  # fails for good
                final[t["task_id"]] = "failed"
                a1.append(t)
            elif r < 0.78:
                a1.append(self._task("tq_a", ckey=self.rng.choice(CKEYS)))
            elif r < 0.89:  # chain a -> b -> a
                x = self._task("tq_a")
                y = self._task("tq_b", deps=[x["task_id"]])
                z = self._task("tq_a", deps=[y["task_id"]])
                a1.append(x), b.append(y), a2.append(z)
                self.edges += [(x["task_id"], y["task_id"]), (y["task_id"], z["task_id"])]
            else:  # diamond: root(a) -> left(a), right(b) -> join(b)
                root = self._task("tq_a")
                left = self._task("tq_a", deps=[root["task_id"]])
                right = self._task("tq_b", deps=[root["task_id"]])
                join = self._task("tq_b", deps=[left["task_id"], right["task_id"]])
                a1 += [root, left]
                b += [right, join]
                self.edges += [(root["task_id"], left["task_id"]),
                               (root["task_id"], right["task_id"]),
                               (left["task_id"], join["task_id"]),
                               (right["task_id"], join["task_id"])]
        for name, batch in (("tq_a", a1), ("tq_b", b), ("tq_a", a2)):
            self._send(name, batch)
            for t in batch:
                self.expected[t["task_id"]] = final.get(t["task_id"], "completed")

    def _send(self, name: str, batch: list[dict]) -> None:
        if not batch:
            return
        while True:
            try:
                if self.client.exists(Keys().queue(name).task(batch[0]["task_id"])):
                    return  # the cut-off call had gone through
                self.q[name].enqueue_many(batch)
                return
            except OUTAGE:
                time.sleep(0.2)


# -- measuring recovery -------------------------------------------------------------
def held_by(client, pid: int) -> tuple[list[str], list[str]]:
    """The worker ids a process registered under, and the tasks they hold."""
    ids = [w.id for w in WorkerRegistry(client).all() if w.pid == pid]
    tasks: list[str] = []
    for wid in ids:
        for name in QUEUES:
            tasks += client.zrange(Keys().queue(name).held(wid), 0, -1)
    return ids, tasks


def wait_recovered(url: str, wids: list[str], tasks: list[str], t0: float,
                   out: list[float], timeout: float = 120.0) -> None:
    """Until none of ``tasks`` is still running under a dead holder."""
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
    left = set(tasks)
    while left and time.monotonic() - t0 < timeout:
        try:
            for tid in list(left):
                status, worker = client.hmget(Keys().queue(tid.split(":")[0]).task(tid),
                                              "status", "worker")
                if status != "running" or worker not in wids:
                    left.discard(tid)
        except OUTAGE:
            pass
        if left:
            time.sleep(0.1)
    out.append((len(tasks), time.monotonic() - t0 if not left else float("inf")))


def restart(server: Server, client, how: str, seed: int) -> dict:
    """Restart Redis; the queue has recovered once a probe task enqueued
    on each queue right after the restart has completed."""
    t0 = time.monotonic()
    server.stop(how)
    server.start()
    back = time.monotonic()
    probes = []
    for name in QUEUES:
        while True:
            try:
                probes.append(Queue(name, client).enqueue(BODY, "/dev/null", priority=9).id)
                break
            except OUTAGE:
                time.sleep(0.05)
    while time.monotonic() - back < 120:
        try:
            if all(client.hget(Keys().queue(n).task(t), "status") == "completed"
                   for n, t in zip(QUEUES, probes)):
                break
        except OUTAGE:
            pass
        time.sleep(0.05)
    return {"how": how, "redis_down_s": round(back - t0, 2),
            "probe_done_after_s": round(time.monotonic() - back, 2)}


# -- the run ----------------------------------------------------------------------
def run(args) -> dict:
    rng = random.Random(args.seed)
    work = Path(args.dir or tempfile.mkdtemp(prefix="taskq-torture-"))
    work.mkdir(parents=True, exist_ok=True)
    side = work / "executions.txt"
    server = Server(work)
    server.start()
    log(f"redis-server on {server.url} (AOF, appendfsync always), work dir {work}")
    fleet = Fleet(server.url, work, args.pool_workers, args.rq_workers, args.threads)
    producer = Producer(server.url, side, args.tasks, rng)
    client = redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=5)
    kill_recovery: list[tuple[int, float]] = []  # (tasks held, seconds until all were freed)
    restarts: list[dict] = []
    watchers: list[threading.Thread] = []
    # The chaos plan: kills every --kill-every seconds, the leader kills and
    # Redis restarts spread in between.
    events = ["kill"] * args.kills
    others = ["leader"] * args.leader_kills + ["restart"] * args.restarts
    for i, kind in enumerate(others):
        events.insert(min(len(events), (i + 1) * len(events) // (len(others) + 1)), kind)
    # Production is paced to end at half the chaos, faster than the workers
    # drain, so every kill and restart meets a backlog and prefetched tasks.
    span = max(1.0, (len(events) + 1) * args.kill_every * 0.5)
    started = time.monotonic()
    next_event = started + args.kill_every
    restart_modes = ["shutdown", "kill"]
    while producer.made < args.tasks or events:
        due = args.tasks * min(1.0, (time.monotonic() - started) / span)
        if producer.made < args.tasks and producer.made <= due:
            producer.round(100)
            continue
        if not events or time.monotonic() < next_event:
            time.sleep(0.02)
            continue
        event = events.pop(0)
        next_event = time.monotonic() + args.kill_every
        try:
            if event == "kill":
                pid = rng.choice(fleet.workers())
                wids, tasks = held_by(client, pid)
                t0 = time.monotonic()
                kind = fleet.procs[pid][0]
                fleet.kill(pid)
                log(f"SIGKILL {kind} worker pid {pid} holding {len(tasks)} tasks")
                w = threading.Thread(target=wait_recovered,
                                     args=(server.url, wids, tasks, t0, kill_recovery))
                w.start()
                watchers.append(w)
            elif event == "leader":
                leader = client.get(Keys().scheduler_leader) or ""
                pid = int(leader.rsplit("-", 1)[-1]) if leader else 0
                if pid in fleet.procs and pid not in fleet.killed:
                    fleet.kill(pid)
                    log(f"SIGKILL scheduler leader pid {pid}")
            else:
                restarts.append(restart(server, client, restart_modes.pop(0)
                                        if restart_modes else "kill", args.seed))
                log(f"Redis restarted: {restarts[-1]}")
        except OUTAGE:
            events.insert(0, event)
    log(f"{producer.made} tasks acknowledged; waiting for them to finish")
    deadline = time.monotonic() + args.drain_timeout
    while time.monotonic() < deadline:
        try:
            # the counts first (cheap); then every acknowledged task itself
            if (sum(client.zcard(Keys().queue(n).status_index(s)) for n in QUEUES
                    for s in TERMINAL) >= producer.made
                    and all_ended(client, list(producer.expected))):
                break
        except OUTAGE:
            pass
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    for w in watchers:
        w.join()
    died = fleet.died_on_their_own()
    fleet.stop()
    logs = fleet.logs()
    result = check(client, producer, side, QUEUES)
    result.update(
        seconds=round(elapsed, 1), tasks_per_s=round(producer.made / elapsed, 1),
        worker_kills=len(kill_recovery),
        kill_recovery_s=recovery_figures(kill_recovery),
        redis_restarts=restarts, processes_died_on_their_own=len(died), died=died,
        tracebacks_in_logs=tracebacks(logs),
        redis_lost_lines=logs.count("lost Redis"), redis_back_lines=logs.count("is back after"),
        work_dir=str(work),
    )
    server.stop("shutdown")
    return result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=int, default=5000)
    p.add_argument("--kills", type=int, default=5, help="worker SIGKILLs")
    p.add_argument("--leader-kills", type=int, default=1, help="scheduler leader SIGKILLs")
    p.add_argument("--restarts", type=int, default=2,
                   help="Redis restarts: the first by SHUTDOWN, the next by SIGKILL")
    p.add_argument("--kill-every", type=float, default=3.0, help="seconds between chaos events")
    p.add_argument("--pool-workers", type=int, default=2)
    p.add_argument("--rq-workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=4, help="threads per pool worker")
    p.add_argument("--drain-timeout", type=float, default=600.0)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--dir", help="work directory (default: a new temporary one)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result.items():
            print(f"{k:32} {v}")
    bad = [k for k in FAILING if result[k]]
    if bad:
        log(f"FAILED: {', '.join(bad)}")
        return 1
    log("every check holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
