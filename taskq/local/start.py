"""What ``taskq start`` does around the Procfile's processes: makes the
store ready before they start (:func:`prepare`), and tells a newcomer where
things are and a way in.

On a fresh embedded store it creates one admin API key and prints it, once:
a marker in that Redis records that it was done, so a restart (the data
survives in ``.taskq/redis``) never makes or shows another. The key is made
by ``taskq auth apikey create`` in a child process, since the key store
belongs to the HTTP layer, which the engine does not import. The URLs and
the key are printed when ``/health`` answers, after the processes' boot
lines, so they are the last thing on the screen.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request

import redis

from taskq.connection import client_from_url
from taskq.keys import DEFAULT_PREFIX

ADMIN_KEY_NAME = "local-admin"
ANNOUNCE_TIMEOUT = 120.0
MAKE_KEY = "taskq auth apikey create --name me -s admin"


RELEASE = "release"
"""The Procfile line run once before the others (Heroku's release phase)."""


class StartError(RuntimeError):
    """What stops ``taskq start`` before any process starts (one line)."""


def prepare(url: str, env: dict, procfile: str) -> list[str]:
    """Make the store ready for the Procfile's processes: wait while Redis
    loads its data set, run the ``release`` line (once, to its end), check
    the key schema (taskq.startup). Returns the process names for honcho:
    every line but ``release`` (honcho would run it beside the others, and
    stop them all when it exits)."""
    from honcho.environ import parse_procfile

    from taskq.schema import SchemaError
    from taskq.startup import ready

    with open(procfile) as fh:
        lines = parse_procfile(fh.read()).processes
    names = [name for name in lines if name != RELEASE]
    if RELEASE in lines and not names:
        raise StartError(f"{procfile} has nothing to run but its {RELEASE} line")
    prefix = env.get("TASKQ_PREFIX") or DEFAULT_PREFIX
    client = client_from_url(url)
    try:
        ready(client, prefix, say=say, check_schema=False)
        if RELEASE in lines:
            say(f"release: {lines[RELEASE]}")
            done = subprocess.run(lines[RELEASE], shell=True, env=env)
            if done.returncode != 0:
                raise StartError(f"the {RELEASE} command failed (exit {done.returncode}); "
                                 f"no process started")
        ready(client, prefix, say=say)
    except SchemaError as exc:
        raise StartError(str(exc)) from None
    except redis.RedisError as exc:
        raise StartError(f"Redis stopped answering before the processes started: "
                         f"{type(exc).__name__}: {exc}") from None
    finally:
        client.close()
    return names if RELEASE in lines else []


def say(line: str) -> None:
    print(f"taskq: {line}", flush=True)


def marker_key(prefix: str) -> str:
    """Set (once) when the first start made its admin key."""
    return f"{prefix}:local:first_admin_key"


def key_command_hint() -> str:
    return f"way in   make an API key with: {MAKE_KEY}"


def first_admin_key(url: str, env: dict) -> str:
    """The line to print about the admin key: the key itself on a fresh store,
    else how to make one."""
    prefix = env.get("TASKQ_PREFIX") or DEFAULT_PREFIX
    client = client_from_url(url)
    try:
        if not client.set(marker_key(prefix), str(int(time.time())), nx=True):
            return (f"way in   the admin API key was printed on the first start; "
                    f"another: {MAKE_KEY}")
        proc = subprocess.run(
            [sys.executable, "-m", "taskq.cli", "auth", "apikey", "create",
             "--name", ADMIN_KEY_NAME, "-s", "admin", "--url", url],
            env=env, capture_output=True, text=True, timeout=60)
        key = proc.stdout.strip()
        if proc.returncode != 0 or not key:
            client.delete(marker_key(prefix))  # try again on the next start
            why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return f"way in   could not create an admin API key ({why}); run: {MAKE_KEY}"
        return f"API key  {key}   (admin; shown only now, keep it)"
    finally:
        client.close()


def _health_url(bind: str, port: int) -> str:
    host = "127.0.0.1" if bind in ("", "0.0.0.0", "::", "[::]") else bind
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=1) as resp:
            return resp.status == 200
    except Exception:
        return False


def banner(base: str, way_in: str, env: dict, up: bool) -> str:
    bindir = os.path.relpath(os.path.dirname(sys.executable))
    lines = ["taskq: ready" if up else "taskq: the web process has not answered /health yet",
             f"  API      {base}/api",
             f"  docs     {base}/api/docs",
             f"  dashboard {base}/dashboard/   (log in with an API key)",
             f"  metrics  {base}/metrics",
             f"  {way_in}",
             f"  CLI      taskq is in {bindir}: source {bindir}/activate"]
    if env.get("TASKQ_ALLOW_COMMANDS") != "1":
        lines.append("  commands shell-command tasks are off; start with TASKQ_ALLOW_COMMANDS=1 "
                     "to run them (local use only)")
    return "\n".join(lines)


def announce_when_up(child: subprocess.Popen, bind: str, port: int, way_in: str,
                     env: dict) -> threading.Thread:
    """Print the banner once the web process answers (or gives up trying)."""
    base = _health_url(bind, port)

    def run() -> None:
        deadline = time.monotonic() + ANNOUNCE_TIMEOUT
        up = False
        while child.poll() is None and time.monotonic() < deadline:
            if _answers(base):
                up = True
                break
            time.sleep(0.2)
        if up or child.poll() is None:
            print(banner(base, way_in, env, up), flush=True)
        elif way_in.startswith("API key"):
            print(f"taskq: {way_in}", flush=True)  # no web process; the key is not lost

    thread = threading.Thread(target=run, name="taskq-announce", daemon=True)
    thread.start()
    return thread
