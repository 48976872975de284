"""Listing workflows by status, for scripts/bench.py --issue20.

OPEN four-step diamond workflows (bench_workflows.DIAMOND) are created in
the paused ``workflows`` queue of the private redis-server, so all stay
open (pending). Then through the app (Flask test client, one process, a
JWT with tasker.task:index) ``GET /tasker/tasks?status=pending`` and, for
contrast, ``GET /tasker/tasks`` (no status filter) are called CALLS times
each: the Redis commands each call costs (INFO commandstats over the calls,
CONFIG RESETSTAT before) and its milliseconds (median), and whether the
status page's total says OPEN. What the dashboard's workflows page polls.
"""

from __future__ import annotations

import logging
import statistics
import time

import bench_workflows
import taskq
from bench_server import command_calls
from taskq import workflows

OPEN = 2_000
CALLS = 10
SECRET = "taskq-bench-reads-secret-0123456789abcdef"
ROUTES = {"status": "/tasker/tasks?status=pending&per_page=25",
          "plain": "/tasker/tasks?per_page=25"}


def run(server, n: int = OPEN) -> dict:
    from api import create_app
    from api.auth import mint_token

    r, prefix = server.client, "reads"
    handler = workflows.Registry().register(bench_workflows.DIAMOND)
    taskq.Queue(workflows.WORKFLOW_QUEUE, redis=r, prefix=prefix).pause()
    for _ in range(n):
        workflows.create(r, handler, prefix=prefix)
    app = create_app({"REDIS": r, "TASKQ_PREFIX": prefix, "TASKQ_JWT_SECRET": SECRET,
                      "TASKQ_RATE_LIMIT": "1000000/60"})
    logging.getLogger("taskq.api.access").disabled = True  # one JSON line per request
    client = app.test_client()
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'bench', ['tasker.task:index'], 600)}"}
    out = {"open": n}
    try:
        for key, route in ROUTES.items():
            client.get(route, headers=headers)  # warm
            times = []
            r.config_resetstat()
            for _ in range(CALLS):
                t = time.perf_counter()
                resp = client.get(route, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
                if resp.status_code != 200:
                    raise RuntimeError(f"{route}: {resp.status_code} {resp.get_data(as_text=True)[:200]}")
            out[f"{key}_commands"] = command_calls(r) / CALLS
            out[f"{key}_ms"] = statistics.median(times)
            if key == "status":
                body = resp.get_json()
                total = (body.get("pagination") or {}).get("total_count", body.get("total"))
                out["status_total"] = total
                out["status_exact"] = total == n
    finally:
        server.flush()
    return out
