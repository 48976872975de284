"""Every goal of "A leaner task lifecycle" in one run: scripts/bench.py --issue20.

    python scripts/bench.py --issue20 [--quick] [--json] [--backlog] [--no-huey]

Everything runs on one private redis-server the benchmark starts
(bench_server.PrivateRedis; --redis-url is not used), so other clients'
traffic neither slows nor counts in it, and prints one table per goal:
taskq's figure, the peer's (BullMQ 6.7, Huey, RQ, the pipelined Lua ceiling,
a bare Flask endpoint, or the goal's own limit), their ratio, the target and
whether it is met. The measurements are those of bench_redis_time (Redis
time per task), bench_peers (enqueue, result, timers, drain), bench_idle,
bench_reads, bench_http, and bench.py's own workflow, schedule and RQ
scenarios. Needs node and npm (BullMQ), pip (Huey, in its own virtualenv,
unless --no-huey) and wrk (HTTP; skipped with a message when it cannot be
had). About 15 minutes (--quick: about 6); --backlog adds the Redis-time
table at 1,000,000 queued tasks (5-10 minutes more, up to about 1 GB).
"""

from __future__ import annotations

import statistics
import sys
import time

import bench_http
import bench_idle
import bench_peers
import bench_reads
import bench_redis_time
import bench_rq
import bench_schedules
import bench_workflows
from bench_server import PrivateRedis

PEER_SIZES = {"enqueue": 5_000, "bulk": 50_000, "samples": 200, "timers": 30, "drain": 20_000}
QUICK_PEER_SIZES = {"enqueue": 2_000, "bulk": 20_000, "samples": 100, "timers": 20, "drain": 10_000}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def row(goal: str, unit: str, taskq: float | None, peer: str, peer_value: float | None,
        target: str, met: bool | None, ratio: float | None = None) -> dict:
    if ratio is None and taskq is not None and peer_value:
        ratio = taskq / peer_value
    return {"goal": goal, "unit": unit, "taskq": taskq, "peer": peer, "peer_value": peer_value,
            "ratio": ratio, "target": target, "met": met}


def redis_time_rows(table: dict) -> list[dict]:
    ops, at = table["ops"], f" at {table['backlog']:,} queued" if table["backlog"] else ""
    out = []
    for key, peer, limit in (("enqueue", "BullMQ queue.add", 1.0),
                             ("drain", f"BullMQ Worker c={bench_redis_time.BULLMQ_TUNED}", 0.5),
                             ("claim1", "BullMQ Worker c=1, per job", 1.0)):
        o = ops[key]
        out.append(row(o["label"].split(" (")[0].split(" /")[0] + at, "µs/task",
                       o["taskq"]["total_us"], peer, o["bullmq"]["total_us"],
                       f"≤ {limit:.1f}× peer", o["ratio"] <= limit, o["ratio"]))
    return out


def goal_tables(d: dict) -> dict[str, list[dict]]:
    t: dict[str, list[dict]] = {}
    t["Redis time per task (script + outside-script commands)"] = [
        r for table in d["redis_time"] for r in redis_time_rows(table)]
    p = d["peers"]["median"]
    huey = "enqueue_huey" in p
    enq = [row("single enqueue", "tasks/s", p["enqueue_taskq"], "BullMQ", p["enqueue_bullmq"],
               "(shown)", None)]
    if huey:
        enq.insert(0, row("single enqueue", "tasks/s", p["enqueue_taskq"], "Huey",
                          p["enqueue_huey"], "≥ 1.0× Huey", p["enqueue_taskq"] >= p["enqueue_huey"]))
    enq += [row("bulk enqueue (enqueue_many)", "tasks/s", p["bulk_taskq"], "pipelined Lua ceiling",
                p["ceiling"], "≥ 0.8× ceiling", p["bulk_taskq"] >= 0.8 * p["ceiling"]),
            row("bulk enqueue (enqueue_many)", "tasks/s", p["bulk_taskq"], "BullMQ addBulk",
                p["bulk_bullmq"], "(shown)", None)]
    t["Enqueue"] = enq
    t["Drain, one process each, best against best"] = [
        row(f"drain ({d['peers']['drain_best_mode']})", "tasks/s", p["drain_taskq_best"],
            f"BullMQ c={bench_redis_time.BULLMQ_TUNED}", p["drain_bullmq"], "≥ 2.5× BullMQ",
            p["drain_taskq_best"] >= 2.5 * p["drain_bullmq"])]
    res = []
    for q in ("p50", "p99"):
        if huey:
            res.append(row(f"enqueue -> result {q}", "ms", p[f"result_taskq_{q}"], "Huey",
                           p[f"result_huey_{q}"], "≤ 1.0× Huey" if q == "p50" else "(shown)",
                           p["result_taskq_p50"] <= p["result_huey_p50"] if q == "p50" else None))
        res.append(row(f"enqueue -> result {q}", "ms", p[f"result_taskq_{q}"], "BullMQ",
                       p[f"result_bullmq_{q}"], "(shown)", None))
    t["Enqueue -> result in hand, idle worker, random 0-20 ms gaps"] = res
    t["Timers: delay=0.3 s, result in hand after due; a retry's start after its backoff"] = [
        row(f"lateness {q}", "ms", p[f"timer_taskq_{q}"], "BullMQ delayed job",
            p[f"timer_bullmq_{q}"], f"≤ {lim} ms", p[f"timer_taskq_{q}"] <= lim)
        for q, lim in (("p50", 20), ("p99", 50))] + [
        row(f"retry after 0.3 s backoff, start late {q}", "ms", p[f"retry_taskq_{q}"], "goal",
            float(lim), f"≤ {lim} ms", p[f"retry_taskq_{q}"] <= lim)
        for q, lim in (("p50", 20), ("p99", 50)) if f"retry_taskq_{q}" in p]
    res = d["bench_results"]
    wf = [row("workflow steps / plain tasks", "x", statistics.median(res["wf_ratio"]),
              "goal", 0.5, "≥ 0.5", statistics.median(res["wf_ratio"]) >= 0.5, ratio=None)]
    wf += [row("10k schedules due -> enqueued, 3 racing", "ms", statistics.median(res["schedules_3"]),
               "goal", 500.0, "≤ 500 ms", statistics.median(res["schedules_3"]) <= 500),
           row("duplicate schedule runs", "runs", max(res["schedules_dupes"]), "goal", None,
               "0", max(res["schedules_dupes"]) == 0)]
    t["Workflows and schedules"] = wf
    rq = d["rq"]["results"]
    t["rq forking worker class"] = [
        row("TaskqWorker vs RQ Worker (fork), 2 processes", "tasks/s", rq["taskq_fork"]["median"],
            "RQ Worker", rq["rq_fork"]["median"], "≥ 1.0× RQ", d["rq"]["ratios"]["fork"] >= 1.0)]
    idle = d["idle"]
    t["Idle worker"] = [
        row(f"idle taskq worker, {q} queues", "commands/s", idle[q]["commands_per_s"], "goal",
            20.0 if q == "1000" else None, "≤ 20" if q == "1000" else "(shown)",
            idle[q]["commands_per_s"] <= 20 if q == "1000" else None) for q in idle] + [
        row(f"pickup p50 on any of {q} queues", "ms", idle[q]["pickup_ms_p50"], "goal", 2.0,
            "≤ 2 ms", idle[q]["pickup_ms_p50"] <= 2.0) for q in idle]
    rd = d["reads"]
    t["Reads: workflows by status, 2,000 open"] = [
        row("GET /tasker/tasks?status=pending", "commands", rd["status_commands"],
            "same page, no status filter", rd["plain_commands"], "≤ 2× (O(page))",
            rd["status_commands"] <= 2 * rd["plain_commands"]),
        row("GET /tasker/tasks?status=pending", "ms", rd["status_ms"],
            "same page, no status filter", rd["plain_ms"], "(shown)", None),
        row("its total_count is exact", "", rd["status_total"], "open", rd["open"], "equal",
            rd["status_exact"])]
    if d["http"]:
        h = d["http"]
        t["HTTP path (" + h["shape"] + ")"] = [
            row("POST /api/tasks", "req/s", h["api_rps"], "bare Flask, 2 Redis calls", h["bare_rps"],
                "≥ 0.7× bare", h["ratio"] >= 0.7)]
    return t


def fmt(v, unit: str) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if float(v).is_integer() and unit not in ("ms", "x", "µs/task"):
        return f"{v:,.0f}"
    if unit in ("ms", "x") or (unit == "µs/task"):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,.0f}" if abs(v) >= 10 else f"{v:,.2f}"


def print_tables(tables: dict[str, list[dict]]) -> None:
    for title, rows in tables.items():
        print(f"\n{title}")
        head = (f"{'measure':44} {'taskq':>10} {'unit':10} {'peer':32} {'peer value':>10} "
                f"{'ratio':>6}  {'target':16} met")
        print(head)
        print("-" * len(head))
        for r in rows:
            met = {True: "met", False: "NOT MET", None: ""}[r["met"]]
            ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else ""
            print(f"{r['goal']:44} {fmt(r['taskq'], r['unit']):>10} {r['unit']:10} {r['peer']:32} "
                  f"{fmt(r['peer_value'], r['unit']):>10} {ratio:>6}  {r['target']:16} {met}")


def run(quick: bool, backlog: bool, with_huey: bool = True) -> dict:
    from bench import FULL, QUICK, Bench  # this folder's bench.py, which imports this module

    sizes = QUICK if quick else FULL
    runs = sizes["runs"]
    started = time.perf_counter()
    with PrivateRedis() as server:
        log(f"issue 20: {server.describe()} at {server.url}")
        d: dict = {"redis": server.describe(), "quick": quick}
        d["redis_time"] = bench_redis_time.run(server, runs, quick, backlog)
        d["peers"] = bench_peers.run(server, runs, QUICK_PEER_SIZES if quick else PEER_SIZES,
                                     with_huey)
        d["idle"] = bench_idle.run(server, 1)
        d["reads"] = bench_reads.run(server)
        bench = Bench(server.client, sizes, server.url)
        bench.warm_up()
        for i in range(runs):
            log(f"  workflows: run {i + 1}/{runs}")
            bench_workflows.run(bench)
        bench_schedules.run(bench, sizes["schedules"], runs)
        d["bench_results"] = {k: v for k, v in bench.results.items() if v}
        server.flush()
        d["rq"] = bench_rq.run(server.url, "rqbench", sizes["rq_tasks"], runs,
                               modes=("rq_fork", "taskq_fork"))
        server.flush()
        d["http"] = bench_http.run(server, runs, 5 if quick else 10)
    d["goals"] = goal_tables(d)
    d["elapsed_s"] = time.perf_counter() - started
    return d


def print_report(d: dict) -> None:
    print(f"issue 20 goals: {d['redis']}, BullMQ {d['peers']['bullmq_version']}, "
          f"{d['peers']['huey'] or 'no Huey'}, {'--quick, ' if d['quick'] else ''}"
          f"medians, {d['elapsed_s']:.0f} s")
    print_tables(d["goals"])
    for table in d["redis_time"]:
        bench_redis_time.print_table(table)
    print("\ndrain settings tried for taskq's best (one process each): "
          + ", ".join(f"-c {c}: {d['peers']['median'][f'drain_taskq_c{c}']:,.0f}/s"
                      for c, _ in bench_peers.DRAIN_MODES))
