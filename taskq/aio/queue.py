"""taskq.aio.Queue: the producer API for asyncio code, on ``redis.asyncio``.

    from taskq.aio import Queue
    q = Queue("default")                  # this loop's client for $REDIS_URL
    task = await q.enqueue("myapp.tasks:send_email", to="x", priority=8)
    result = await task.wait(timeout=30)  # pushed, not polled

The same scripts, keys, options and errors as :class:`taskq.Queue`, each
call a coroutine. A wait holds no connection: one pub/sub connection per
event loop and client serves every waiter (taskq.aio.waiter_hub).

A few rare paths run the synchronous engine in a thread, on a synchronous
client with the same settings (taskq.aio.connection.sync_twin):
dependencies on tasks of other queues, the dependents a cancel releases,
the workflow a step belongs to, and ``publish``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from functools import cached_property
from typing import Any, Iterable, Sequence

from .. import retention
from ..errors import E_EXISTS, TaskExists, TaskNotFound, TaskqValueError, WaitTimeout, raise_for
from ..keys import DEFAULT_PREFIX, STATUSES, Keys, queue_of
from ..options import OPTION_NAMES, TaskSpec, build_spec, check_queue_name, order_batch, specs_json
from ..queue import (BATCH_SIZE, CANCEL_MODES, MAX_PAGE, ONE_KEY_NAMES, Queue as SyncQueue,
                     enqueue_replies, enqueued, task_from_spec)
from ..task import Task, decode_hash
from ..waiting import answering, glance, protocol
from .connection import as_async_client, sync_twin
from .scripts import call, call_script, execute, queue_call
from .waiter_hub import AsyncWaiter, hub_for


class Queue:
    """A queue's asyncio producer API. ``redis``: a ``redis.asyncio`` client
    (Redis or RedisCluster, decoding replies or not); default: this event
    loop's client for $REDIS_URL. Tasks it returns are :class:`taskq.Task`
    snapshots whose ``wait`` is a coroutine: ``await task.wait(timeout)``."""

    def __init__(self, name: str = "default", redis=None, prefix: str | None = None):
        self.name = check_queue_name(name)
        if redis is not None:
            as_async_client(redis)  # a synchronous client: TypeError here, not at the first call
        self._given = redis
        self.keys = Keys(prefix or DEFAULT_PREFIX)
        self.qkeys = self.keys.queue(name)
        self._registered = False
        self._one_keys = [getattr(self.qkeys, n) for n in ONE_KEY_NAMES]

    def __repr__(self) -> str:
        return f"taskq.aio.Queue({self.name!r})"

    @property
    def redis(self):
        """The client: the one given (made to decode), or this loop's default."""
        return as_async_client(self._given)

    @cached_property
    def _sync(self) -> SyncQueue:
        """The synchronous twin, for the rare paths run in a thread."""
        return SyncQueue(self.name, redis=sync_twin(self.redis), prefix=self.keys.prefix)

    # -- producing --------------------------------------------------------
    async def enqueue(self, func: Any, *args: Any, **kwargs: Any) -> Task:
        """``func(*args, **kwargs)``; option-named keywords configure the
        task, as for :meth:`taskq.Queue.enqueue`."""
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in OPTION_NAMES} if kwargs else {}
        return await self.enqueue_call(func, args=args, kwargs=kwargs, **options)

    async def enqueue_call(self, func: Any = None, args: Sequence = (), kwargs: dict | None = None,
                           **options: Any) -> Task:
        return (await self.enqueue_specs([build_spec(self.name, func, args, kwargs, **options)]))[0]

    async def enqueue_many(self, tasks: Iterable[dict]) -> list[Task]:
        """Many tasks in one round trip (see :meth:`taskq.Queue.enqueue_many`)."""
        return await self.enqueue_specs([build_spec(self.name, **t) for t in tasks])

    async def enqueue_specs(self, specs: list[TaskSpec]) -> list[Task]:
        if not specs:
            return []
        client = self.redis
        if len(specs) == 1 and self._registered and specs[0].plain:
            reply = await call_script(client, "enqueue_one", self._one_keys, *specs[0].flat_args())
            if reply[0] == E_EXISTS:
                raise TaskExists(f"task {reply[2]} already exists")
            return [await self._task(specs[0], reply[2], reply[3], reply[1])]
        if any(queue_of(d) != self.name for s in specs for d in s.deps):
            tasks = await asyncio.to_thread(self._sync.enqueue_specs, specs)  # links across queues
            return [Task(t.id, t.raw, self) for t in tasks]
        ordered = order_batch(specs)
        register = not self._registered
        pipe = client.pipeline(transaction=False)
        if register:
            pipe.sadd(self.keys.queues, self.name)
        for i in range(0, len(ordered), BATCH_SIZE):
            queue_call(pipe, "enqueue", self.qkeys, specs_json(ordered[i:i + BATCH_SIZE]))
        replies = await execute(client, pipe, raise_on_error=False)
        if register:
            added, replies = replies[0], replies[1:]
            self._registered = not isinstance(added, Exception)
        created, full = enqueue_replies(ordered, replies)
        tasks = [await self._task(s, *created[s.id]) for s in specs if s.id in created]
        return enqueued(specs, tasks, full)

    async def _task(self, spec: TaskSpec, tid: str, status: str, now_ms: int) -> Task:
        if status == "duplicate":
            gone = None if (task := await self.get(tid)) else await self.removed(tid)
            return task or Task(tid, {"status": gone["status"] if gone else "unknown"}, self)
        return task_from_spec(spec, tid, status, now_ms, self)

    async def publish(self, name: str, payload: Any = None) -> list[str]:
        """Publish event ``name`` (taskq.publish) on this queue's Redis and prefix."""
        return await publish(name, payload, redis=self._given, prefix=self.keys.prefix)

    # -- reading ----------------------------------------------------------
    async def get(self, task_id: str) -> Task | None:
        if self._owns(task_id):
            raw = await self.redis.hgetall(self.qkeys.task(task_id))
            if raw:
                return Task.from_hash(task_id, raw, self)
        return None

    async def get_many(self, ids: Sequence[str]) -> list[Task]:
        ids = [i for i in ids if self._owns(i)]
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for tid in ids:
            pipe.hgetall(self.qkeys.task(tid))
        return [Task.from_hash(tid, raw, self) for tid, raw in zip(ids, await pipe.execute()) if raw]

    async def removed(self, task_id: str) -> dict | None:
        """How a task retention removed ended (see :meth:`taskq.Queue.removed`)."""
        if not self._owns(task_id):
            return None
        return retention.read_tombstone(await self.redis.zscore(self.qkeys.gone, task_id))

    async def list(self, status: str | None = None, tag: str | None = None, offset: int = 0,
                   limit: int = 50, newest_first: bool = True) -> list[Task]:
        """Tasks in one status, with a tag, or all (see :meth:`taskq.Queue.list`)."""
        return await self.get_many(await self.list_ids(status, tag, offset, limit, newest_first))

    async def list_ids(self, status=None, tag=None, offset=0, limit=50, newest_first=True) -> list[str]:
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise TaskqValueError(f"limit must be 1..{MAX_PAGE} and offset >= 0")
        key = self._sync_index(status, tag)
        start, stop = offset, offset + limit - 1
        if (status in ("queued", "delayed", "running") and not tag) or not newest_first:
            return await self.redis.zrange(key, start, stop)
        return await self.redis.zrevrange(key, start, stop)

    def _sync_index(self, status: str | None, tag: str | None) -> str:
        return SyncQueue._index(self, status, tag)  # names only: no I/O

    async def count(self, status: str | None = None, tag: str | None = None) -> int:
        return await self.redis.zcard(self._sync_index(status, tag))

    async def counts(self) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        for s in STATUSES:
            pipe.zcard(self.qkeys.status_index(s))
        return dict(zip(STATUSES, await pipe.execute()))

    async def stats(self) -> dict[str, int]:
        raw = await self.redis.hgetall(self.qkeys.stats)
        return {k: int(v) for k, v in decode_hash(raw).items()}

    async def logs(self, task_id: str, offset: int = 0, limit: int = 100) -> list[dict]:
        lines = await self.redis.lrange(self.qkeys.log(task_id), offset, offset + limit - 1)
        return [json.loads(x) for x in lines]

    # -- waiting ------------------------------------------------------------
    async def result(self, task_id: str, timeout: float | None = None) -> Any:
        """Wait until the task ends; its result, or TaskFailed, TaskCancelled,
        WaitTimeout, TaskNotFound, TaskExpired (see :meth:`taskq.Queue.result`)."""
        if not self._owns(task_id):
            raise TaskNotFound(f"task {task_id} not found in queue {self.name}")
        client = self.redis
        if timeout is not None and timeout <= 0:
            reply = await call(client, "watch", self.qkeys, task_id)
            steps = glance(self, task_id, reply, timeout)
        else:
            deadline = None if timeout is None else time.monotonic() + timeout
            steps = protocol(self, task_id, deadline, timeout)
        waiter = AsyncWaiter(self.qkeys, task_id)
        hub = hub_for(client)
        if timeout is None or timeout > 0:
            await hub.join(waiter)
        try:
            return await _adrive(steps, answering(waiter, hub, lambda: self.removed(task_id)))
        finally:
            hub.leave(waiter)

    # -- transitions ------------------------------------------------------
    async def _run(self, verb: str, task_id: str, *args) -> list:
        if not self._owns(task_id):
            raise TaskNotFound(f"task {task_id} not found in queue {self.name}")
        reply = await call(self.redis, verb, self.qkeys, task_id, *args)
        raise_for(reply[0], task_id, reply[1] if len(reply) > 1 else None)
        return reply

    async def cancel(self, task_id: str, reason: str = "", mode: str = "request") -> str:
        """Cancel (see :meth:`taskq.Queue.cancel`): 'cancelled' or 'cancel_requested'."""
        if mode not in CANCEL_MODES:
            raise TaskqValueError(f"mode must be one of {', '.join(CANCEL_MODES)}")
        reply = await self._run("cancel", task_id, reason, mode)
        await self._follow_up(task_id, bool(reply[2]))
        return reply[1]

    async def retry(self, task_id: str) -> str:
        """Run a failed or cancelled task again; returns its new status."""
        status = (await self._run("retry", task_id))[1]
        await self._follow_up(task_id, False)
        return status

    async def _follow_up(self, task_id: str, released: bool) -> None:
        """Dependents the change released, and a step's workflow, via the
        synchronous engine (rare: only when there is something to do)."""
        from ..deps import drain_outbox
        from ..queue import _workflow_follow_up
        if released:
            await asyncio.to_thread(drain_outbox, self._sync.redis, self.keys, self.name)
        if "." in task_id:
            await asyncio.to_thread(_workflow_follow_up, self._sync, task_id)

    # Rare changes, made by the synchronous engine in a thread (on a sync
    # twin of this client): the same scripts, checks and follow-ups.
    async def update(self, task_id: str, **changes: Any) -> str:
        """Change a task that has not started (see :meth:`taskq.Queue.update`)."""
        return await asyncio.to_thread(lambda: self._sync.update(task_id, **changes))

    async def delete(self, task_id: str, force: bool = False) -> None:
        """Delete a task (a running one only with force=True)."""
        await asyncio.to_thread(self._sync.delete, task_id, force)

    async def set_retry_limit(self, task_id: str, max_retries: int) -> str:
        """Change a task's retry budget, even after it started."""
        return await asyncio.to_thread(self._sync.set_retry_limit, task_id, max_retries)

    async def set_rate_limit(self, limit: Any, key: str | None = None) -> None:
        """Limit how often this queue's tasks (of ``key``) start (taskq.rates)."""
        await asyncio.to_thread(self._sync.set_rate_limit, limit, key)

    async def rate_limits(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._sync.rate_limits)

    async def set_retention(self, **settings: Any) -> None:
        """This queue's retention (see :meth:`taskq.Queue.set_retention`)."""
        await asyncio.to_thread(lambda: self._sync.set_retention(**settings))

    async def pause(self) -> None:
        await call(self.redis, "pause", self.qkeys, "1")

    async def resume(self) -> None:
        await call(self.redis, "pause", self.qkeys, "0")

    def _owns(self, task_id: str) -> bool:
        try:
            return queue_of(task_id) == self.name
        except ValueError:
            return False


async def _adrive(steps, handle) -> Any:
    """taskq.waiting.drive for the event loop: an answer that is awaitable is awaited."""
    answer = None
    while True:
        try:
            request = steps.send(answer)
        except StopIteration as stop:
            return stop.value
        answer = handle(request)
        if inspect.isawaitable(answer):
            answer = await answer


async def publish(name: str, payload: Any = None, redis=None, prefix: str | None = None) -> list[str]:
    """Publish event ``name``: every active event schedule waiting for it
    fires one run (taskq.publish, run in a thread on the synchronous twin)."""
    from .. import publish as sync_publish
    return await asyncio.to_thread(sync_publish, name, payload, sync_twin(as_async_client(redis)),
                                   prefix)


async def get_task(task_id: str, redis=None, prefix: str | None = None) -> Task | None:
    """Look a task up by id alone (the id names its queue)."""
    try:
        name = queue_of(task_id)
    except ValueError:
        return None
    return await Queue(name, redis=redis, prefix=prefix).get(task_id)


__all__ = ["Queue", "WaitTimeout", "get_task", "publish"]
