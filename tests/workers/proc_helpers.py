"""Starting `taskq worker` processes, and finding the processes of a
command by a marker in their command line: a sleep duration no other
process uses."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil


ROOT = Path(__file__).resolve().parents[2]


def start_worker(redis_url: str, prefix: str, *args: str) -> subprocess.Popen:
    """``taskq worker *args`` on ``prefix``, in a session of its own (kill
    it with os.killpg), importing task modules from the project folder."""
    env = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "taskq.cli", "worker", *args],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def marked(seconds: float) -> str:
    """A sleep duration of about ``seconds`` that no other process uses."""
    return f"{seconds + random.random() / 10:.9f}"


def alive(mark: str) -> list[str]:
    """The live processes (a zombie has ended) whose command line has ``mark``."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        line = " ".join(p.info["cmdline"] or [])
        if mark in line and p.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(f"{p.pid} {line}")
    return found


def wait_alive(mark: str, at_least: int, within: float = 30.0, while_=lambda: True) -> bool:
    deadline = time.monotonic() + within
    while len(alive(mark)) < at_least and time.monotonic() < deadline and while_():
        time.sleep(0.05)
    return len(alive(mark)) >= at_least


def gone(mark: str, within: float) -> bool:
    deadline = time.monotonic() + within
    while alive(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(mark)


def kill_marked(mark: str) -> None:
    """Clean-up after a failed test."""
    for line in alive(mark):
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except OSError:
            pass
