"""Job functions and callbacks for the taskq.rq tests (imported by worker
processes as tests.workers.rq_funcs)."""

from __future__ import annotations

from taskq.rq import get_current_job

CALLS = "rqcompat:calls"
"""The Redis list the callbacks append to (prefixed per test by its key)."""


def add(a, b):
    return a + b


def boom(message="boom"):
    raise ValueError(message)


def progress(key):
    """Saves meta from inside the job, as RQ apps report progress."""
    job = get_current_job()
    job.meta["progress"] = 100
    job.meta["seen_id"] = job.id
    job.save_meta()
    return job.id


def on_ok(job, connection, result):
    connection.rpush(job.meta["calls"], f"success {job.id} {result}")


def on_fail(job, connection, exc_type, exc, tb):
    connection.rpush(job.meta["calls"], f"failure {job.id} {exc_type.__name__}: {exc}")


def on_ok_raises(job, connection, result):
    raise RuntimeError("the success callback failed")


class Thing:
    def method(self):
        return 1


async def add_later(a, b):
    import asyncio

    await asyncio.sleep(0.01)
    return a + b
