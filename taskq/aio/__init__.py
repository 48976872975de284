"""taskq for asyncio code: ``taskq.aio.Queue`` (enqueue, get, list, cancel,
retry, counts, ``await task.wait()``) and ``publish``, on ``redis.asyncio``.
Workers run ``async def`` task functions on their own event loop
(``taskq worker --async-concurrency``)."""

from .queue import Queue, get_task, publish

__all__ = ["Queue", "get_task", "publish"]
