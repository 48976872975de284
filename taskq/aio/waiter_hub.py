"""Every ``await task.wait()`` of one event loop and client, through one
pub/sub connection: taskq.waiter_hub's asyncio twin, following the same
protocol (taskq.waiting.protocol) on the same notify channels.

- A waiter's queue channel is SUBSCRIBEd once (for as long as the hub
  lives); its task is looked at (the watch script) only once that
  subscription is confirmed, so an ending after the look is published where
  the hub listens.
- Looks asked for in the same turn of the loop go in one pipeline: a
  thousand coroutines waiting at once cost one round trip, not a thousand.
- If the pub/sub connection drops, what was published meanwhile is lost:
  once it is subscribed again, every waiter looks at its task once more.
  If Redis cannot be reached, every waiter gets the error.

The hub closes its connection after IDLE_STOP seconds without a waiter.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from ..cluster import is_cluster
from ..waiter_hub import IDLE_STOP, LOOK_BATCH, message_parts
from .scripts import execute, queue_call

READ_TIMEOUT = 1.0
"""Seconds a read of the pub/sub connection waits before the hub checks idleness."""


class AsyncWaiter:
    __slots__ = ("qkeys", "task_id", "channel", "inbox")

    def __init__(self, qkeys, task_id: str):
        self.qkeys, self.task_id = qkeys, task_id
        self.channel = qkeys.notify_channel
        self.inbox: asyncio.Queue = asyncio.Queue()

    async def take(self, timeout: float) -> tuple[str, Any, int] | None:
        try:
            return await asyncio.wait_for(self.inbox.get(), max(0.0, timeout))
        except asyncio.TimeoutError:
            return None


class AsyncHub:
    def __init__(self, client):
        self.client = client
        self.reads = 0
        self.stopped = False
        self._waiters: dict[tuple[str, str], list[AsyncWaiter]] = {}
        self._channels: set[str] = set()
        self._subscribing: dict[str, asyncio.Future] = {}
        self._live: set[str] = set()
        self._parked: dict[str, list[AsyncWaiter]] = {}
        self._pubsub = None
        self._reader: asyncio.Task | None = None
        self._looks: list[AsyncWaiter] = []
        self._looking = False

    # -- the waiters' side -------------------------------------------------
    async def join(self, waiter: AsyncWaiter) -> None:
        """Register ``waiter``; its first look follows its channel's confirmation.
        Every waiter that joins while its channel is being subscribed awaits
        that one subscription: each gets its error, and one waiter cancelled
        meanwhile does not stop it for the others."""
        channel = waiter.channel
        self._waiters.setdefault((channel, waiter.task_id), []).append(waiter)
        self._parked.setdefault(channel, []).append(waiter)
        if channel in self._live:
            self._unpark(channel)
            return
        pending = self._subscribing.get(channel)
        if pending is None:
            if channel in self._channels:
                return  # subscribed: the confirmation, on its way, unparks the waiter
            self._channels.add(channel)
            pending = self._subscribing[channel] = asyncio.ensure_future(
                self._subscribe_channel(channel))
        try:
            await asyncio.shield(pending)
        except BaseException:
            self.leave(waiter)
            raise

    async def _subscribe_channel(self, channel: str) -> None:
        try:
            await self._subscribe([channel])
        except BaseException:
            self._channels.discard(channel)
            raise
        finally:
            self._subscribing.pop(channel, None)

    def look(self, waiter: AsyncWaiter) -> None:
        if waiter.channel not in self._live:
            self._parked.setdefault(waiter.channel, []).append(waiter)
            return
        self._looks.append(waiter)
        if not self._looking:
            self._looking = True
            asyncio.get_running_loop().create_task(self._run_looks())

    def arm(self, waiter: AsyncWaiter) -> None:
        pass  # registered by its look: nothing else to note here

    def leave(self, waiter: AsyncWaiter) -> None:
        key = (waiter.channel, waiter.task_id)
        waiters = self._waiters.get(key)
        if waiters and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._waiters[key]

    # -- looks ---------------------------------------------------------------
    async def _run_looks(self) -> None:
        try:
            await asyncio.sleep(0)  # the looks asked for in this turn of the loop go together
            while self._looks:
                batch = list({id(w): w for w in self._looks[:LOOK_BATCH]}.values())
                del self._looks[:LOOK_BATCH]
                seq = self.reads
                try:
                    pipe = self.client.pipeline(transaction=False)
                    for w in batch:
                        queue_call(pipe, "watch", w.qkeys, w.task_id)
                    replies = await execute(self.client, pipe, raise_on_error=False)
                except Exception as exc:  # noqa: BLE001  (each waiter gets it)
                    replies = [exc] * len(batch)
                for w, reply in zip(batch, replies):
                    w.inbox.put_nowait(("error", reply, 0) if isinstance(reply, Exception)
                                       else ("watch", reply, seq))
        finally:
            self._looking = False

    # -- the connection --------------------------------------------------------
    async def _subscribe(self, channels: list[str]) -> None:
        if self._pubsub is None:
            source = self.client
            if is_cluster(source):  # PUBLISH reaches every node: listen on one
                source = source.get_default_node().redis_connection or source
            self._pubsub = source.pubsub()
        await self._pubsub.subscribe(*channels)
        conn = self._pubsub.connection
        if conn is not None and getattr(conn, "_taskq_hub", None) is not self:
            conn._taskq_hub = self
            conn.register_connect_callback(self._reconnected)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read())

    def _reconnected(self, connection) -> None:
        """redis-py connected again and subscribes anew: every waiter looks
        again once its channel is confirmed (pushes were lost meanwhile)."""
        self._live.clear()
        for (channel, _), waiters in self._waiters.items():
            self._parked.setdefault(channel, []).extend(waiters)

    def _unpark(self, channel: str) -> None:
        for w in self._parked.pop(channel, []):
            if w in self._waiters.get((w.channel, w.task_id), ()):
                self.look(w)

    async def _read(self) -> None:
        idle = 0.0
        while True:
            try:
                msg = await self._pubsub.get_message(timeout=READ_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                if not await self._recover():
                    self._fail_all(exc)
                    return
                continue
            if msg is None:
                idle = idle + READ_TIMEOUT if not self._waiters else 0.0
                if idle >= IDLE_STOP:
                    await self.close()
                    return
                continue
            idle = 0.0
            kind, channel, task_id, outcome = message_parts(msg)
            if kind == "message":
                self.reads += 1
                for w in list(self._waiters.get((channel, task_id), ())):
                    w.inbox.put_nowait(("push", outcome, self.reads))
            elif kind == "subscribe":
                self._live.add(channel)
                self._unpark(channel)

    async def _recover(self) -> bool:
        """A new pub/sub connection subscribed to every channel; False when
        Redis cannot be reached."""
        await self._reset()
        for (channel, _), waiters in self._waiters.items():
            self._parked.setdefault(channel, []).extend(waiters)
        try:
            if self._channels:
                await self._subscribe(sorted(self._channels))
        except Exception:  # noqa: BLE001
            return False
        return True

    def _fail_all(self, exc: BaseException) -> None:
        waiters = [w for ws in self._waiters.values() for w in ws]
        self._waiters, self._parked, self._channels, self._live = {}, {}, set(), set()
        for w in waiters:
            w.inbox.put_nowait(("error", exc, 0))
        self.stopped = True

    async def _reset(self) -> None:
        ps, self._pubsub = self._pubsub, None
        self._live.clear()
        if ps is not None:
            conn = ps.connection
            if conn is not None and getattr(conn, "_taskq_hub", None) is self:
                conn.deregister_connect_callback(self._reconnected)
                del conn._taskq_hub
            try:
                await ps.aclose()
            except Exception:  # noqa: BLE001  (already broken)
                pass

    async def close(self) -> None:
        self.stopped = True
        await self._reset()


_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, tuple[Any, AsyncHub]]]" = \
    weakref.WeakKeyDictionary()


def hub_for(client) -> AsyncHub:
    """This event loop's running hub for ``client``."""
    per_loop = _hubs.setdefault(asyncio.get_running_loop(), {})
    found = per_loop.get(id(client))
    if found is None or found[1].stopped:
        found = per_loop[id(client)] = (client, AsyncHub(client))
    return found[1]


__all__ = ["AsyncHub", "AsyncWaiter", "hub_for"]
