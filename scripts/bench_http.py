"""The HTTP path, for scripts/bench.py --issue20: ``POST /api/tasks`` beside
a bare Flask endpoint making two Redis calls, same gunicorn shape, same run.

  api   ``gunicorn -c api/gunicorn_conf.py 'api:create_app()'`` as the
        Procfile runs it, WEB_CONCURRENCY=2 workers x WEB_THREADS=4, on the
        private redis-server; a JWT with tasks:write; the rate limit set high
        enough never to refuse (it is still checked and counted on every
        request); body {"name": "bench", "command": "true"}: auth, rate
        limit, validation, metrics and the envelope all included
  bare  scripts/bench_http_bare.py under ``gunicorn -w 2 --threads 4``: parse
        the JSON, INCR, HSET, answer 201

Each is loaded by ``wrk -t2 -c50 -d<seconds>s`` (after a 2 s warm-up run),
alternating, ``runs`` times; requests/s and non-2xx answers are reported,
and the ratio api/bare. wrk is Debian's package ``wrk``: when it is missing,
``apt-get install wrk`` is tried (as root), else the measurement is skipped
with a message.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from taskq import embedded

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECRET = "taskq-bench-http-secret-0123456789abcdef"
BODY = '{"name": "bench", "command": "true"}'
CONNECTIONS, THREADS = 50, 2
WORKERS, WORKER_THREADS = 2, 4


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def find_wrk() -> str | None:
    """wrk on PATH, installed with apt-get when missing and allowed; else None."""
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("  http: wrk is missing; trying apt-get install wrk")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False, timeout=600)
    return shutil.which("wrk")


def _serve(args: list[str], env: dict, port: int, log_file) -> subprocess.Popen:
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_file,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {args[-1]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except urllib.error.HTTPError:
            return proc  # it answers (404 or 401 is fine)
        except OSError:
            time.sleep(0.1)
    _stop(proc)
    raise RuntimeError(f"gunicorn did not answer on {port}: {args[-1]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_api(url: str, port: int, log_file) -> subprocess.Popen:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    env = dict(os.environ, REDIS_URL=url, TASKQ_PREFIX="http", TASKQ_JWT_SECRET=SECRET,
               TASKQ_RATE_LIMIT="1000000000/900", WEB_CONCURRENCY=str(WORKERS),
               WEB_THREADS=str(WORKER_THREADS))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return _serve([gunicorn, "-c", "api/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}",
                   "api:create_app()"], env, port, log_file)


def start_bare(url: str, port: int, log_file) -> subprocess.Popen:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    env = dict(os.environ, REDIS_URL=url, PYTHONPATH=str(HERE))
    return _serve([gunicorn, "-w", str(WORKERS), "--threads", str(WORKER_THREADS), "--bind",
                   f"127.0.0.1:{port}", "bench_http_bare:app"], env, port, log_file)


def wrk(binary: str, port: int, token: str | None, seconds: int, script_dir: str) -> dict:
    headers = 'wrk.headers["Content-Type"] = "application/json"\n'
    if token:
        headers += f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    script = Path(script_dir) / f"post-{port}.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = [[{BODY}]]\n{headers}')
    out = subprocess.run([binary, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s",
                          str(script), f"http://127.0.0.1:{port}/api/tasks"],
                         capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rate": rate, "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else ""}


def run(server, runs: int, seconds: int = 10) -> dict | None:
    binary = find_wrk()
    if not binary:
        log("  http: skipped (no wrk: install Debian's package wrk)")
        return None
    sys.path.insert(0, str(ROOT))
    from api.auth import mint_token

    token = mint_token(SECRET, "bench", ["tasks:write"], ttl=24 * 3600)
    rows: dict[str, list[dict]] = {"api": [], "bare": []}
    with tempfile.TemporaryDirectory(prefix="taskq-bench-http-") as tmp, \
            open(Path(tmp) / "gunicorn.log", "w") as log_file:
        ports = {"api": embedded.free_port(), "bare": embedded.free_port()}
        procs = {"api": start_api(server.url, ports["api"], log_file),
                 "bare": start_bare(server.url, ports["bare"], log_file)}
        try:
            for side in rows:
                wrk(binary, ports[side], token if side == "api" else None, 2, tmp)  # warm-up
            for i in range(runs):
                log(f"  http: run {i + 1}/{runs}")
                for side in (("api", "bare") if i % 2 == 0 else ("bare", "api")):
                    rows[side].append(wrk(binary, ports[side], token if side == "api" else None,
                                          seconds, tmp))
        finally:
            for proc in procs.values():
                _stop(proc)
            server.flush()
    med = {side: statistics.median(r["rate"] for r in v) for side, v in rows.items()}
    return {"api_rps": med["api"], "bare_rps": med["bare"], "ratio": med["api"] / med["bare"],
            "runs": rows, "shape": f"gunicorn {WORKERS} workers x {WORKER_THREADS} threads, "
                                   f"wrk -t{THREADS} -c{CONNECTIONS} -d{seconds}s"}
