"""Task bodies for the rq worker tests, imported by worker processes as
``tests.workers.tasks:<name>``. Each leaves its side effects in Redis keys
the test names (under the test's prefix), so a test can count how often a
body really ran and which process ran it."""

from __future__ import annotations

import os
import time

from taskq import current_task
from taskq.connection import get_redis


def record(counter_key: str) -> int:
    """Count one run; the result is the pid of the process that ran it."""
    get_redis().incr(counter_key)
    return os.getpid()


def sleep_then_incr(seconds: float, started_key: str, done_key: str, pids_key: str) -> str:
    r = get_redis()
    r.rpush(pids_key, os.getpid())
    r.incr(started_key)
    time.sleep(seconds)
    r.incr(done_key)
    return "slept"


def checkpointed(steps: int, hang_key: str, steps_key: str, done_key: str, pid_key: str) -> list:
    """Runs ``steps`` steps, saving a checkpoint after each; a restarted
    attempt resumes after the last saved step. While ``hang_key`` is set,
    the body records its pid and hangs at step 2 (the flag is consumed, so
    the next attempt does not)."""
    r = get_redis()
    ctx = current_task()
    done = list((ctx.checkpoint or {}).get("done", []))
    for step in range(len(done), steps):
        if step == 2 and r.getdel(hang_key):
            r.set(pid_key, os.getpid())
            ctx.log("hanging at step 2", "warn")
            time.sleep(3600)
        r.hincrby(steps_key, str(step), 1)
        done.append(step)
        ctx.save_checkpoint({"done": done})
        ctx.log(f"step {step} done")
    r.incr(done_key)
    return done


def big(n: int) -> dict:
    """A result of about ``n`` characters, with text JSON must escape."""
    return {"text": ("é\"\\\n\ud800" * (n // 5 + 1))[:n], "n": n}


def circular() -> list:
    loop: list = []
    loop.append(loop)
    return loop


def raise_value_error(message: str) -> None:
    raise ValueError(message)
