"""`taskq start` run as a newcomer runs it: a subprocess with the
repository's Procfile, its own state folder and port, and no REDIS_URL,
for the tests of a first start and of what it keeps in its state folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

from taskq.local.embedded import free_port

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 90.0
"""Seconds a start may take to say it is ready (an embedded Redis to start,
four processes to import on a loaded 2-core machine)."""


def shell_env(state: Path, *, drop: tuple[str, ...] = (), **extra: str) -> dict:
    """This process's environment as a new shell of the folder has it: no
    Redis, port or prefix of the suite's (nor the names in ``drop``), the
    state folder ``state``, then ``extra``."""
    gone = ("REDIS_URL", "PORT", "TASKQ_BIND", "TASKQ_WEB_PORT", "TASKQ_PREFIX", *drop)
    env = {k: v for k, v in os.environ.items() if k not in gone}
    env["TASKQ_STATE_DIR"] = str(state)
    env.update(extra)
    return env


class LocalStart:
    """One `taskq start`, its output in ``log``."""

    def __init__(self, env: dict, log: Path) -> None:
        self.port, self.log = free_port(), log
        self.base = f"http://127.0.0.1:{self.port}"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "taskq.cli", "start", "-f", str(REPO / "Procfile")],
                cwd=REPO, env=dict(env, PORT=str(self.port)),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> str:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            text = self.output()
            if "taskq: ready" in text:
                return text
            assert self.proc.poll() is None, text
            time.sleep(0.2)
        raise AssertionError(f"not ready in {READY_TIMEOUT} s:\n{self.output()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # taskq start forwards it to honcho
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def local_starts(tmp_path: Path, make_env: Callable[..., dict]) -> Iterator[Callable[..., LocalStart]]:
    """A fixture's body (``yield from local_starts(tmp_path, env)``): it gives
    ``start(state, name="start", **extra)``, a LocalStart with
    ``make_env(state, **extra)`` logging to ``<tmp_path>/<name>.log``, and
    stops every one it started after the test."""
    running: list[LocalStart] = []

    def start(state: Path, name: str = "start", **extra: str) -> LocalStart:
        s = LocalStart(make_env(state, **extra), tmp_path / f"{name}.log")
        running.append(s)
        return s

    yield start
    for s in running:
        s.stop()


def http_status(url: str, authorization: str | None = None) -> int:
    """The status of GET ``url`` (``authorization``: the header's value)."""
    headers = {"Authorization": authorization} if authorization else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code

