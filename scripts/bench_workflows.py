"""Workflow steps through one worker, beside plain tasks, for scripts/bench.py
(or alone: see main).

  workflows  WORKFLOWS four-step diamonds (source -> left, right -> join, no-op
             step code) are created one by one in the paused ``workflows``
             queue of the benchmark's prefix (each create timed: its p50 and
             p95), then one real ``taskq worker`` process starts, registers,
             the queue is resumed and the clock runs until every step
             completed: steps/s.
  plain      the same number of plain no-op tasks drained by the same kind of
             worker, measured the same way in the same run: tasks/s.

The ratio steps/s / tasks/s is what a workflow step costs over a plain task
(the runner's reads of the workflow record and its dependencies' results,
the dependency releases in the complete script).

    python scripts/bench.py --workflows-only [--quick] [--json]
"""

from __future__ import annotations

import time

import bench_worker
import taskq
from taskq import workflows

WORKFLOWS = 1_000
CONCURRENCY, PREFETCH = 4, 100
DIAMOND = {"namespace": "bench", "name": "diamond", "version": "1.0.0", "step_templates": [
    {"name": "source", "handler_class": "bench_workflows.noop_step"},
    {"name": "left", "handler_class": "bench_workflows.noop_step", "depends_on_step": "source"},
    {"name": "right", "handler_class": "bench_workflows.noop_step", "depends_on_step": "source"},
    {"name": "join", "handler_class": "bench_workflows.noop_step",
     "depends_on_step": ["left", "right"]}]}
STEPS = len(DIAMOND["step_templates"])

ROWS = {
    "wf_steps": ("workflow steps, 4-step diamonds, 1 worker", "steps/s", None),
    "wf_plain": ("plain no-op tasks, same worker, same run", "tasks/s", None),
    "wf_ratio": ("steps/s / plain tasks/s", "x", (">=", 0.5)),
    "wf_create_p50": ("workflow create p50", "ms", None),
    "wf_create_p95": ("workflow create p95", "ms", None),
}
"""Rows bench.py adds to its table (same shape as its ROWS)."""


def noop_step(context, inputs, dependencies):
    return None


def run_workflows(r, url: str, prefix: str, n: int) -> tuple[float, list[float]]:
    """Steps per second through one worker, and each create's milliseconds."""
    reg = workflows.Registry()
    handler = reg.register(DIAMOND)
    q = taskq.Queue(workflows.WORKFLOW_QUEUE, redis=r, prefix=prefix)
    q.pause()
    created = []
    for _ in range(n):
        t = time.perf_counter()
        workflows.create(r, handler, prefix=prefix)
        created.append((time.perf_counter() - t) * 1000)
    proc = bench_worker.start_worker(url, prefix, q.name, CONCURRENCY, PREFETCH)
    try:
        bench_worker.wait_registered(r, q.keys)
        t = time.perf_counter()
        q.resume()
        total = n * STEPS
        while q.count("completed") < total:
            if proc.poll() is not None:
                raise RuntimeError("the benchmark worker died")
            if q.count("failed") or q.count("cancelled"):
                raise RuntimeError("a benchmark step failed")
            time.sleep(0.01)
        return total / (time.perf_counter() - t), created
    finally:
        bench_worker.stop_worker(proc)


def run(bench, n: int = WORKFLOWS) -> None:
    """One run of both measurements into ``bench.results`` (scripts/bench.py)."""
    from bench import percentile  # this folder's bench.py, which imports this module

    rate, created = run_workflows(bench.r, bench.url, bench.prefix, n)
    bench.wipe()
    plain = bench_worker.drain(bench.r, bench.url, bench.prefix, bench.queue("wfplain"),
                               n * STEPS, CONCURRENCY, 1000, PREFETCH)
    bench.wipe()
    for key, value in (("wf_steps", rate), ("wf_plain", plain), ("wf_ratio", rate / plain),
                       ("wf_create_p50", percentile(created, 50)),
                       ("wf_create_p95", percentile(created, 95))):
        bench.results.setdefault(key, []).append(value)
