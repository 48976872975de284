"""Worker drain on a 3-master Redis Cluster beside one Redis, for scripts/bench.py.

    python scripts/bench.py --cluster-only [--quick] [--json] [--cluster-workers W]

Does a cluster's throughput grow with its masters? Two private servers are
started for the scenario, so both sides have the same binary, the same
settings (no persistence: no RDB, no AOF) and nothing else writing to them:
a plain redis-server on a free loopback port (taskq.local.embedded.start_server)
and a 3-master cluster (taskq.local.cluster.LocalCluster, same binary). The
--redis-url server is not used.

Six queue names are picked whose hash slots (their keys carry the
``{queue}`` tag) fall 2 on each master; the same names are used on the one
Redis. A drain: the 6 queues are paused and filled with N no-op tasks in
all (N/6 each, enqueue_many 1,000 at a time), W ``taskq worker`` processes
start and register (W: --cluster-workers, default one per queue or one per
core if there are more cores, see default_workers), the queues are resumed and the clock
runs until all N tasks are completed: tasks/s. The two sides alternate (one
Redis, cluster, one Redis, cluster, ...) so machine noise hits both alike;
the ratio cluster / one Redis is taken within each run, its median reported.

Every worker serves all 6 queues, but in its own order. A pool worker asks
its queues in the order given, the next one only while the earlier ones
came up short (taskq.lease.complete_and_claim): with one order for all, every
worker would drain the same queue, on one master, while the other two sat
idle. So the queues are listed master by master (m1 m2 m3 m1 m2 m3) and
worker i starts at position i: the first queues of the workers fall on
different masters, and a worker whose first queue ran dry goes on with the
others instead of idling (W need not be a multiple of 3).

What limits it is shown, not guessed: over each timed drain the CPU time of
every Redis server (INFO cpu, used_cpu_user + used_cpu_sys) is divided by
the wall time ("busy %": 100 is one core), and so are the worker
processes' CPU time (psutil), this process's own (polling the counts) and
the machine's (busy, in interrupts, stolen by a hypervisor; what is left
is other processes). A cluster can only gain where one Redis is the
bottleneck: a server near 100 % busy while the client side has CPU to
spare. A worker spends most of its time waiting on round trips (its
claim-and-complete script call per batch), so on a small machine (2 cores)
it takes several worker processes per core to keep one Redis busy: with
3 workers neither the one Redis (about 80 %) nor the machine saturates and
the ratio stays near 1; with 6 the one Redis nears a full core while the
masters sit near a third each, and the cluster drains faster. Past that the
machine's two cores, shared by the workers and the servers, should be the
limit (6 already kept 1.5 of them busy): a cluster adds servers, not cores. The printed ``limit:`` line says
which case the figures show.
"""

from __future__ import annotations

import os
import statistics
import time

import psutil

import bench_worker
import taskq
from taskq.cluster import is_cluster
from taskq.connection import client_from_url
from taskq.local.embedded import redis_server_path, start_server
from taskq.local.cluster import LocalCluster

MASTERS, PER_MASTER = 3, 2
CONCURRENCY, PREFETCH = 4, 100
CHUNK = 1000
TASK = {"func": "bench_worker:noop"}

ROWS = {
    "cl_single": ("drain, 6 queues, W workers, 1 Redis", "tasks/s", None),
    "cl_cluster": ("the same, 3-master cluster", "tasks/s", None),
    "cl_ratio": ("cluster / 1 Redis, same run", "x", None),
    "cl_busy_single": ("1 Redis: server busy", "%", None),
    "cl_busy_master": ("cluster: busiest master busy", "%", None),
    "cl_workers_single": ("1 Redis: worker processes' CPU", "cores", None),
    "cl_workers_cluster": ("cluster: worker processes' CPU", "cores", None),
}
"""Rows bench.py adds to its table (same shape as its ROWS)."""


def default_workers() -> int:
    """One worker process per queue, or per core where there are more cores.
    A worker mostly waits on its round trips, so it takes more processes
    than cores to keep one Redis busy (fewer than one per master would leave
    a master idle at any moment)."""
    return max(MASTERS * PER_MASTER, os.cpu_count() or 1)


def spread_queues(cluster, keys: taskq.Keys, per_master: int = PER_MASTER) -> list[tuple[str, str]]:
    """(queue name, master) pairs, ``per_master`` queues on every master of
    ``cluster`` (a TaskqCluster), listed master by master: m1 m2 m3 m1 m2 m3."""
    masters = sorted(node.name for node in cluster.get_primaries())
    picked: dict[str, list[str]] = {m: [] for m in masters}
    i = 0
    while any(len(names) < per_master for names in picked.values()):
        i += 1
        name = f"cl{i}"
        node = cluster.nodes_manager.get_node_from_slot(cluster.keyslot(keys.queue(name).wake))
        if len(picked[node.name]) < per_master:
            picked[node.name].append(name)
    return [(picked[m][j], m) for j in range(per_master) for m in masters]


def rotated(names: list[str], i: int) -> list[str]:
    """The queue order of worker i (see the module docstring)."""
    k = i % len(names)
    return names[k:] + names[:k]


class Side:
    """One of the two targets: its URL, a client, one plain client per
    server (a cluster's masters sorted by address, for INFO cpu), and a
    Bench of its own (key prefix, wipe)."""

    def __init__(self, name: str, url: str, sizes: dict):
        from bench import Bench  # this folder's bench.py, which imports this module
        import redis

        self.name = name
        self.url = url
        self.client = client_from_url(url)
        if is_cluster(self.client):
            self.masters = sorted(node.name for node in self.client.get_primaries())
            urls = [f"redis://{m}/0" for m in self.masters]
        else:
            self.masters, urls = [url], [url]
        self.servers = [redis.Redis.from_url(u, decode_responses=True) for u in urls]
        self.bench = Bench(self.client, sizes, url)

    def server_cpu(self) -> list[float]:
        out = []
        for s in self.servers:
            cpu = s.info("cpu")
            out.append(float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]))
        return out

    def close(self) -> None:
        for c in [self.client, *self.servers]:
            c.close()


def machine_cpu() -> tuple[float, float, float]:
    """CPU seconds of the whole machine so far, all cores: (busy, of which
    in interrupts (the kernel's share of loopback networking), stolen by a
    hypervisor)."""
    t = psutil.cpu_times()
    irq = getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
    return (t.user + getattr(t, "nice", 0.0) + t.system + irq, irq, getattr(t, "steal", 0.0))


def process_cpu(procs) -> float:
    total = 0.0
    for p in procs:
        t = psutil.Process(p.pid).cpu_times()
        total += t.user + t.system
    return total


def drain(side: Side, names: list[str], n: int, workers: int) -> dict:
    """One timed drain of n tasks over ``names`` by ``workers`` processes."""
    prefix = side.bench.prefix
    queues = [taskq.Queue(name, redis=side.client, prefix=prefix) for name in names]
    share = [n // len(queues) + (i < n % len(queues)) for i in range(len(queues))]
    for q, count in zip(queues, share):
        q.pause()
        for i in range(0, count, CHUNK):
            q.enqueue_many([TASK] * min(CHUNK, count - i))
    procs = [bench_worker.start_worker(side.url, prefix, rotated(names, i), CONCURRENCY, PREFETCH)
             for i in range(workers)]
    try:
        bench_worker.wait_registered(side.client, side.bench.keys, count=workers)
        cpu0, work0, box0, own0 = (side.server_cpu(), process_cpu(procs), machine_cpu(),
                                   time.process_time())
        t = time.perf_counter()
        for q in queues:
            q.resume()
        deadline = time.monotonic() + max(120.0, n / 200)
        while sum(q.count("completed") for q in queues) < n:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a benchmark worker died")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{side.name}: the drain did not finish: "
                                   f"{[q.counts() for q in queues]}")
            time.sleep(0.02)
        wall = time.perf_counter() - t
        cpu1, work1, box1, own1 = (side.server_cpu(), process_cpu(procs), machine_cpu(),
                                   time.process_time())
    finally:
        bench_worker.stop_worker(*procs)
    side.bench.wipe()
    busy, irq, steal = ((b - a) / wall for a, b in zip(box0, box1))
    out = {"tasks_per_s": n / wall, "wall_s": wall,
           "redis_busy_pct": [100 * (b - a) / wall for a, b in zip(cpu0, cpu1)],
           "workers_cores": (work1 - work0) / wall, "bench_client_cores": (own1 - own0) / wall,
           "machine_busy_cores": busy, "interrupt_cores": irq, "stolen_cores": steal}
    redis_cores = sum(out["redis_busy_pct"]) / 100
    out["other_cores"] = max(0.0, busy - irq - out["workers_cores"] - out["bench_client_cores"]
                             - redis_cores)
    out["redis_cpu_us_per_task"] = 1e6 * redis_cores / out["tasks_per_s"]
    out["workers_cpu_us_per_task"] = 1e6 * out["workers_cores"] / out["tasks_per_s"]
    return out


def limit(detail: dict) -> str:
    """What the figures say limits the drain, in a sentence (medians of the
    runs; the machine's figures from the one-Redis side)."""
    def med(side: str, key: str, pick=lambda v: v) -> float:
        return statistics.median(pick(r[side][key]) for r in detail["runs"])

    single = med("single", "redis_busy_pct", lambda v: v[0])
    masters = [med("cluster", "redis_busy_pct", lambda v, i=i: v[i]) for i in range(MASTERS)]
    busy, cores = med("single", "machine_busy_cores"), detail["cpu_count"]
    stolen = med("single", "stolen_cores")
    where = (f"{detail['workers']} worker processes used {med('single', 'workers_cores'):.2f} cores "
             f"(cluster side {med('cluster', 'workers_cores'):.2f}), the one Redis was "
             f"{single:.0f} % busy, the masters " + " / ".join(f"{m:.0f}" for m in masters)
             + f" %; the machine was {busy:.2f} of {cores} cores busy "
             f"({med('single', 'interrupt_cores'):.2f} in interrupts, "
             f"{med('single', 'other_cores'):.2f} in other processes) and {stolen:.2f} stolen "
             f"by the hypervisor; CPU per task: Redis {med('single', 'redis_cpu_us_per_task'):.0f}"
             f" us (cluster {med('cluster', 'redis_cpu_us_per_task'):.0f}), workers "
             f"{med('single', 'workers_cpu_us_per_task'):.0f} us "
             f"(cluster {med('cluster', 'workers_cpu_us_per_task'):.0f})")
    if single >= 85:
        return f"limit: the one Redis, near a full core (a cluster spreads that work): {where}."
    if busy + stolen >= 0.85 * cores:
        return (f"limit: the machine's CPU, not the one Redis (below a full core): the worker "
                f"processes and the servers share {cores} cores, and a cluster adds servers, "
                f"not cores: {where}.")
    return f"limit: neither the one Redis nor the CPU saturated (round trips, waits): {where}."


def run(bench, n: int, runs: int, workers: int) -> dict:
    """The scenario into ``bench.results`` (bench.py's Bench); its detail
    (per run, per server) is returned for the JSON output."""
    from bench import log

    server = cluster = None
    sides: list[Side] = []
    try:
        server = start_server(persistent=False)
        cluster = LocalCluster(MASTERS, server=redis_server_path()).start()
        sides = [Side("single", server.url, bench.sizes), Side("cluster", cluster.url, bench.sizes)]
        single, clustered = sides
        pairs = spread_queues(clustered.client, clustered.bench.keys)
        names, masters = [name for name, _ in pairs], clustered.masters
        detail = {"workers": workers, "concurrency": CONCURRENCY, "prefetch": PREFETCH,
                  "tasks": n, "cpu_count": os.cpu_count(),
                  "redis_version": single.servers[0].info("server")["redis_version"],
                  "queues": {name: masters.index(m) for name, m in pairs},
                  "masters": masters, "runs": []}
        log(f"  cluster: queues {names} on masters "
            f"{[masters.index(m) + 1 for _, m in pairs]}, {workers} workers")
        for i in range(runs):
            one = {}
            for side in sides:
                log(f"  cluster: {side.name}, run {i + 1}/{runs}")
                one[side.name] = drain(side, names, n, workers)
            detail["runs"].append(one)
            ratio = one["cluster"]["tasks_per_s"] / one["single"]["tasks_per_s"]
            for key, value in (("cl_single", one["single"]["tasks_per_s"]),
                               ("cl_cluster", one["cluster"]["tasks_per_s"]),
                               ("cl_ratio", ratio),
                               ("cl_busy_single", one["single"]["redis_busy_pct"][0]),
                               ("cl_busy_master", max(one["cluster"]["redis_busy_pct"])),
                               ("cl_workers_single", one["single"]["workers_cores"]),
                               ("cl_workers_cluster", one["cluster"]["workers_cores"])):
                bench.results.setdefault(key, []).append(value)
        detail["left_keys"] = sum(s.dbsize() for side in sides for s in side.servers)
        detail["limit"] = limit(detail)
        return detail
    finally:
        for side in sides:
            side.close()
        if cluster is not None:
            cluster.stop()
        if server is not None:
            server.stop()
