#!/usr/bin/env python3
"""HTTP path benchmark: taskq's ``POST /api/tasks`` beside a bare Flask
endpoint making two Redis calls, under the same gunicorn shape, in one run.

    python scripts/bench_http.py [--runs 3] [--seconds 10] [--connections 50]
                                 [--wrk-threads 2] [--auth apikey|jwt] [--json]
    python scripts/bench_http.py --in-process [--requests 2000] [--runs 3]

Both sides are gunicorn, WEB_CONCURRENCY workers x WEB_THREADS threads
(2 x 4 unless set), against one private redis-server on a free loopback
port (nothing saved; taskq.local.embedded.start_server), so other work on the
machine's Redis does not disturb it and nothing shared is written:

  taskq   ``gunicorn -c api/gunicorn_conf.py 'api:create_app()'``: the web
          process as deployed (auth, rate limit counted per key, input
          guard, validation, envelope, Prometheus and JSON request metrics,
          the JSON access log, written to /dev/null), ``POST /api/tasks``
          with a DTS body and an API key (or a JWT: ``--auth jwt``).
  bare    the same gunicorn shape serving :func:`bare_app`: parse the JSON
          body, two Redis calls (INCR of a counter, LPUSH of the body),
          answer 201 with a small JSON body.
  floor   (``--floor``) the bare endpoint with the engine's enqueue of the
          task in place of LPUSH: the gap from bare to floor is the engine's
          enqueue, from floor to taskq what the HTTP layer adds.
  other   (``--compare CHECKOUT``) the web process of another checkout of
          taskq (its own api/ and taskq/), e.g. the main branch: before and
          after a change in the same run.

wrk drives each (``wrk -t T -c C -d Ns`` with a POST script), after a
warm-up of each; the sides take turns, the first one rotating from run to
run, so machine noise hits them alike, and the ratio taskq / bare is taken
within each run; medians are reported, with the web workers' CPU time per
request (user + system, from /proc: less disturbed by a busy machine than
req/s) and Redis's command time per request (INFO commandstats, the private
server). A run in which any answer is not 2xx fails (a rate limit or an
error would flatter the figure).
:func:`measure` returns the figures as a dict (for scripts/bench.py).

``--in-process`` measures without gunicorn, sockets or wrk: each side's
WSGI app called in a loop in this process (taskq's as deployed: metrics in
multiprocess mode, the access log written to /dev/null), CPU time per
request (the fastest and the median of ``--runs`` loops) and Python
function calls per request (counted by cProfile: the same on a busy
machine as on an idle one, where CPU time can double).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import redis as redis_lib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

SECRET = "bench-http-secret-0123456789abcdef0123"
BODY = {
    "name": "Resize images", "description": "Resize the uploaded images to thumbnails",
    "command": "python resize.py --size 256", "priority": 7, "max_retries": 3,
    "timeout_seconds": 600, "tags": ["images", "batch"],
}
"""A realistic DTS create body (the REST API page's example, with tags)."""
BUDGET = "1000000000/3600"
"""The rate limit during the run: counted on every request, never exceeded."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bare_app():
    """The baseline: a Flask endpoint that parses the JSON body and makes two
    Redis calls (REDIS_URL), one connection pool per process as taskq's."""
    import uuid

    import redis
    from flask import Flask, jsonify, request

    app = Flask("bare")
    r = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)

    @app.post("/bare/tasks")
    def create():
        body = request.get_json()
        task_id = uuid.uuid4().hex
        r.incr("bare:count")
        r.lpush("bare:queue", json.dumps({"id": task_id, **body}))
        return jsonify({"success": True, "data": {"id": task_id, "status": "pending"}}), 201

    queue = None

    @app.post("/bare/enqueue")
    def enqueue():
        """The same, with the engine's enqueue of the body's task (taskq.Queue)
        in place of LPUSH: no auth, validation, metrics or log."""
        nonlocal queue
        if queue is None:
            from taskq import Queue
            from taskq.connection import client_from_url
            queue = Queue("bare", redis=client_from_url(os.environ["REDIS_URL"]), prefix="bench-http-bare")
        body = request.get_json()
        r.incr("bare:count")
        task = queue.enqueue_call(None, priority=body["priority"], max_retries=body["max_retries"],
                                  timeout=body["timeout_seconds"], tags=body["tags"],
                                  meta={k: body[k] for k in ("name", "description", "command")})
        return jsonify({"success": True, "data": {"id": task.id, "status": "pending"}}), 201

    @app.get("/bare/health")
    def health():
        return {"ok": True}

    return app


def _shape() -> tuple[str, str]:
    return os.environ.get("WEB_CONCURRENCY", "2"), os.environ.get("WEB_THREADS", "4")


class Server:
    """One gunicorn master and its workers, in a process group of their own."""

    def __init__(self, name: str, args: list[str], env: dict, port: int, health: str, cwd: str = ROOT):
        self.name, self.port, self.health = name, port, health
        self.proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited ({self.proc.returncode})")
            try:
                with urllib.request.urlopen(self.url(self.health), timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: no answer on {self.health} within {timeout} s")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the workers so far (not the idle master)."""
        total = 0.0
        for pid in self.worker_pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_taskq(redis_url: str, port: int, prefix: str, root: str = ROOT, name: str = "taskq") -> Server:
    workers, threads = _shape()
    env = dict(os.environ, PORT=str(port), REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
               TASKQ_JWT_SECRET=SECRET, TASKQ_RATE_LIMIT=BUDGET, WEB_CONCURRENCY=workers,
               WEB_THREADS=threads)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # a fresh folder of its own
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    args = [gunicorn, "-c", os.path.join(root, "api", "gunicorn_conf.py"), "--bind", f"127.0.0.1:{port}",
            "--chdir", root, "api:create_app()"]
    return Server(name, args, env, port, "/health", cwd=root)


def start_bare(redis_url: str, port: int) -> Server:
    workers, threads = _shape()
    env = dict(os.environ, REDIS_URL=redis_url)
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    args = [gunicorn, "--workers", workers, "--threads", threads, "--timeout", "30",
            "--bind", f"127.0.0.1:{port}", "--chdir", HERE, "--no-control-socket",
            "bench_http:bare_app()"]
    return Server("bare", args, env, port, "/bare/health")


def credential(redis_url: str, prefix: str, auth: str) -> str:
    """The Authorization header value: a new API key (stored under ``prefix``)
    or a JWT, scope tasks:write."""
    from taskq.connection import client_from_url
    from taskq.keys import ApiKeys

    from api.auth import create_api_key, mint_token

    if auth == "jwt":
        return f"Bearer {mint_token(SECRET, 'bench', ['tasks:write'], ttl=7200)}"
    client = client_from_url(redis_url)
    try:
        key, _ = create_api_key(client, ApiKeys(prefix), "bench", ["tasks:write"])
    finally:
        client.close()
    return f"ApiKey {key}"


def wrk_script(folder: str, name: str, headers: dict) -> str:
    path = os.path.join(folder, f"{name}.lua")
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(BODY))}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_ERRORS = re.compile(r"Socket errors:.*")
_LATENCY = re.compile(r"Latency\s+([\d.]+)(us|ms|s)")
_COUNT = re.compile(r"(\d+) requests in")


def redis_usec(client) -> int:
    """Microseconds Redis spent in commands so far (INFO commandstats)."""
    return sum(int(v["usec"]) for v in client.info("commandstats").values())


def wrk(server: Server, path: str, script: str, seconds: float, connections: int, threads: int,
        redis_client=None) -> dict:
    """One wrk run: requests/s, the mean latency in ms, the workers' CPU time
    and Redis's command time per request in µs; RuntimeError when any
    answer was not 2xx."""
    url = server.url(path)
    cpu = server.cpu_seconds()
    used = redis_usec(redis_client) if redis_client is not None else 0
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
                          "-s", script, url], capture_output=True, text=True, check=True).stdout
    bad = _NON2XX.search(out)
    if bad or _ERRORS.search(out):
        raise RuntimeError(f"wrk on {url}: answers that are not 2xx, or socket errors:\n{out}")
    lat = _LATENCY.search(out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[lat.group(2)] if lat else 0
    cpu = server.cpu_seconds() - cpu
    count = int(_COUNT.search(out).group(1))
    used = redis_usec(redis_client) - used if redis_client is not None else 0
    return {"rps": float(_RPS.search(out).group(1)), "latency_ms": float(lat.group(1)) * scale if lat else None,
            "cpu_us": cpu / count * 1e6, "redis_us": used / count}


SIDES = {  # name: (label, server, path)
    "taskq": ("taskq POST /api/tasks", "taskq", "/api/tasks"),
    "bare": ("bare endpoint", "bare", "/bare/tasks"),
    "floor": ("bare + engine enqueue", "bare", "/bare/enqueue"),
    "other": ("POST /api/tasks, --compare", "other", "/api/tasks"),
}


def measure(runs: int = 3, seconds: float = 10, connections: int = 50, wrk_threads: int = 2,
            auth: str = "apikey", warmup: float = 3, floor: bool = False, compare: str | None = None) -> dict:
    """Run each side ``runs`` times, in turn (the order rotating from run to
    run); the figures as a dict. ``floor`` adds the bare endpoint calling the
    engine's enqueue instead of LPUSH (what the HTTP layer adds to it);
    ``compare``: another checkout of taskq whose web process runs as a side
    too (before and after a change, in one run)."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk)")
    from taskq.local.embedded import free_port, start_server

    names = ["taskq", "bare"] + (["floor"] if floor else []) + (["other"] if compare else [])
    server = start_server(persistent=False)
    folder = tempfile.mkdtemp(prefix="taskq-bench-http-")
    prefix = "bench-http"
    servers: dict[str, Server] = {}
    results: dict[str, list[dict]] = {n: [] for n in names}
    stats = None
    try:
        header = credential(server.url, prefix, auth)
        stats = redis_lib.Redis.from_url(server.url)
        servers["taskq"] = start_taskq(server.url, free_port(), prefix)
        servers["bare"] = start_bare(server.url, free_port())
        if compare:
            servers["other"] = start_taskq(server.url, free_port(), prefix, os.path.abspath(compare), "other")
        for srv in servers.values():
            srv.wait_ready()
        json_only = {"Content-Type": "application/json"}
        scripts = {"taskq": wrk_script(folder, "taskq", {**json_only, "Authorization": header}),
                   "other": wrk_script(folder, "other", {**json_only, "Authorization": header}),
                   "bare": wrk_script(folder, "bare", json_only), "floor": wrk_script(folder, "floor", json_only)}

        def drive(name: str, span: float) -> dict:
            _, srv, path = SIDES[name]
            return wrk(servers[srv], path, scripts[name], span, connections, wrk_threads, stats)

        for name in names:
            log(f"  http: warm-up {name}")
            drive(name, warmup)
        for i in range(runs):
            for name in names[i % len(names):] + names[:i % len(names)]:
                got = drive(name, seconds)
                results[name].append(got)
                log(f"  http: run {i + 1}/{runs} {name}: {got['rps']:.0f} req/s, "
                    f"{got['cpu_us']:.0f} µs of worker CPU and {got['redis_us']:.1f} µs of Redis per request")
    finally:
        for srv in servers.values():
            srv.stop()
        if stats is not None:
            stats.close()
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    workers, threads = _shape()
    data = {"shape": f"{workers} workers x {threads} threads", "auth": auth, "connections": connections,
            "wrk_threads": wrk_threads, "seconds": seconds, "runs": runs, "sides": names, "compare": compare}
    for name in names:
        data[f"{name}_rps"] = [x["rps"] for x in results[name]]
        data[f"{name}_rps_median"] = statistics.median(data[f"{name}_rps"])
        data[f"{name}_latency_ms"] = statistics.median(x["latency_ms"] for x in results[name])
        data[f"{name}_cpu_us"] = statistics.median(x["cpu_us"] for x in results[name])
        data[f"{name}_redis_us"] = statistics.median(x["redis_us"] for x in results[name])
    data["ratios"] = [t / b for t, b in zip(data["taskq_rps"], data["bare_rps"])]
    data["ratio_median"] = statistics.median(data["ratios"])
    if compare:
        data["other_ratios"] = [t / b for t, b in zip(data["other_rps"], data["bare_rps"])]
        data["other_ratio_median"] = statistics.median(data["other_ratios"])
    return data


def run(server, runs: int, seconds: float = 10) -> dict | None:
    """For scripts/bench_issue20.py: :func:`measure` (on a private server of
    its own, not ``server``) reduced to the goal's figures; None without wrk."""
    if not shutil.which("wrk"):
        log("  http: skipped (no wrk: install Debian's package wrk)")
        return None
    data = measure(runs=runs, seconds=seconds)
    return {"api_rps": data["taskq_rps_median"], "bare_rps": data["bare_rps_median"],
            "ratio": data["ratio_median"], "cpu_us": data["taskq_cpu_us"],
            "bare_cpu_us": data["bare_cpu_us"],
            "shape": f"gunicorn {data['shape']}, wrk -t{data['wrk_threads']} "
                     f"-c{data['connections']} -d{seconds:g}s"}


def _wsgi_loop(app, path: str, headers: dict, requests: int, runs: int) -> dict:
    """CPU µs per request (fastest and median loop) and function calls per
    request of ``app`` answering POST ``path`` with BODY."""
    import cProfile
    import io
    import pstats

    body = json.dumps(BODY).encode()
    base = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
            "HTTP_HOST": "127.0.0.1", "HTTP_USER_AGENT": "bench_http", "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": True,
            "wsgi.run_once": False, "wsgi.errors": sys.stderr,
            **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}}
    status = []

    def one():
        env = dict(base)
        env["wsgi.input"] = io.BytesIO(body)
        out = app(env, lambda s, h, e=None: status.append(s))
        b"".join(out)
        getattr(out, "close", lambda: None)()

    for _ in range(200):
        one()
    if not all(s[:1] == "2" for s in status):
        raise RuntimeError(f"{path}: answers that are not 2xx: {sorted(set(status))}")
    times = []
    for _ in range(runs):
        started = time.process_time()
        for _ in range(requests):
            one()
        times.append((time.process_time() - started) / requests * 1e6)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(200):
        one()
    prof.disable()
    return {"cpu_us_min": min(times), "cpu_us_median": statistics.median(times),
            "calls": pstats.Stats(prof).total_calls / 200}


def in_process(requests: int = 2000, runs: int = 3, auth: str = "apikey") -> dict:
    """taskq's POST /api/tasks, the bare endpoint and the floor, each as a
    WSGI app called in this process (one private redis-server)."""
    from taskq.local.embedded import start_server

    folder = tempfile.mkdtemp(prefix="taskq-bench-http-prom-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # as under gunicorn (api/gunicorn_conf.py)
    server = start_server(persistent=False)
    prefix = "bench-http"
    try:
        header = credential(server.url, prefix, auth)
        os.environ.update(REDIS_URL=server.url, TASKQ_PREFIX=prefix, TASKQ_JWT_SECRET=SECRET,
                          TASKQ_RATE_LIMIT=BUDGET)
        import logging

        from api import create_app
        app = create_app()
        for handler in logging.getLogger("taskq.api.access").handlers:
            handler.setStream(open(os.devnull, "w"))
        bare = bare_app()
        json_only = {"Content-Type": "application/json"}
        data = {"requests": requests, "runs": runs, "auth": auth}
        for name, wsgi, path, headers in (
                ("taskq", app.wsgi_app, "/api/tasks", {**json_only, "Authorization": header}),
                ("bare", bare.wsgi_app, "/bare/tasks", json_only),
                ("floor", bare.wsgi_app, "/bare/enqueue", json_only)):
            log(f"  http: in-process {name}")
            data[name] = _wsgi_loop(wsgi, path, headers, requests, runs)
        counts = app.extensions.get("taskq_request_counts")
        if counts is not None:
            counts.close()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return data


def print_in_process(data: dict) -> None:
    print(f"HTTP in process: POST /api/tasks ({data['auth']}) vs the bare endpoint, WSGI apps called in a loop "
          f"({data['runs']} loops of {data['requests']} requests)")
    for name in ("taskq", "bare", "floor"):
        d = data[name]
        print(f"  {SIDES[name][0]:24s} CPU {d['cpu_us_min']:6.0f} µs per request (median loop "
              f"{d['cpu_us_median']:.0f}), {d['calls']:6.0f} Python function calls per request")
    t, f = data["taskq"], data["floor"]
    print(f"  {'taskq - floor':24s} CPU {t['cpu_us_min'] - f['cpu_us_min']:6.0f} µs, "
          f"{t['calls'] - f['calls']:6.0f} calls: what the HTTP layer adds to the engine's enqueue")


def print_table(data: dict) -> None:
    print(f"HTTP: POST /api/tasks ({data['auth']}) vs a bare Flask endpoint with two Redis calls; "
          f"gunicorn {data['shape']}, wrk -t{data['wrk_threads']} -c{data['connections']} "
          f"-d{data['seconds']:g}s, {data['runs']} runs taking turns")
    runs = lambda xs, f: ", ".join(f.format(x) for x in xs)  # noqa: E731
    for name in data["sides"]:
        print(f"  {SIDES[name][0]:24s} {data[name + '_rps_median']:8.0f} req/s   "
              f"(runs: {runs(data[name + '_rps'], '{:.0f}')}), mean latency {data[name + '_latency_ms']:.1f} ms, "
              f"worker CPU {data[name + '_cpu_us']:.0f} µs, Redis {data[name + '_redis_us']:.1f} µs per request")
    print(f"  {'taskq / bare':24s} {data['ratio_median']:8.2f} x       "
          f"(runs: {runs(data['ratios'], '{:.2f}')}; goal >= 0.7)")
    if data.get("compare"):
        print(f"  {'--compare / bare':24s} {data['other_ratio_median']:8.2f} x       "
              f"(runs: {runs(data['other_ratios'], '{:.2f}')}; --compare {data['compare']})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--auth", choices=("apikey", "jwt"), default="apikey")
    ap.add_argument("--floor", action="store_true",
                    help="add the bare endpoint calling the engine's enqueue (what the HTTP layer adds to it)")
    ap.add_argument("--compare", metavar="CHECKOUT",
                    help="also run the web process of another taskq checkout (before/after in one run)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--in-process", action="store_true",
                    help="no gunicorn or wrk: CPU time and function calls per request of each WSGI app in a loop")
    ap.add_argument("--requests", type=int, default=2000, help="requests per loop with --in-process")
    args = ap.parse_args()
    if args.in_process:
        data = in_process(args.requests, args.runs, args.auth)
        print(json.dumps(data, indent=2)) if args.json else print_in_process(data)
        return 0
    data = measure(args.runs, args.seconds, args.connections, args.wrk_threads, args.auth, floor=args.floor,
                   compare=args.compare)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print_table(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
