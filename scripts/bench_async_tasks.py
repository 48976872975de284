"""The tasks of scripts/bench_async.py, imported by its ``taskq worker``
processes (started with this folder on ``-P``) as ``bench_async_tasks``.
It imports asyncio only, so the worker's cost is not an import's."""

import asyncio


async def sleep50() -> None:
    """The I/O-bound task: 50 ms of waiting, no CPU."""
    await asyncio.sleep(0.05)


async def noop_async() -> None:
    return None


def noop() -> None:
    return None
