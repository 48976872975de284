"""Every Task.wait of a process, on one client, through one thread: the hub.

A waiter does not hold a connection while it waits. It hands itself to its
client's hub, a thread that owns one pub/sub connection for every waiter of
that client in this process:

- the hub SUBSCRIBEs to the notify channel of each queue waited on (the
  queue's ``notify_channel``; one subscription per queue for as long as the
  hub lives, so only the first wait on a queue waits for one);
- once that subscription is confirmed, the waiter's task is looked at: the
  watch script answers for a task that has ended and otherwise sets the
  task's ``waiters`` flag; since the subscription came first, an ending
  after the check is published where the hub listens
  (taskq/lua/includes/notify.lua). Looks asked for at the same time go in
  one pipeline, run by whichever thread asks when none is running (the
  waiter itself, so a lone wait costs one round trip as a direct call
  would) or by the hub; at most one runs at a time, on one pooled
  connection;
- the hub hands each waiter the outcome published for its task (with the
  result when it is small), or the error that stopped it; a waiter asks for
  another look when it needs one (every waiting.RECHECK seconds, at its
  deadline, to read a task whose push said it ended).

So N waiters cost two connections per process and client, whatever N. Every
process subscribed to a queue receives the outcome of every waited task of
that queue (and drops those nobody of its own waits on): the price of
subscribing once per queue rather than once per wait. A published message
is lost if the pub/sub connection drops: the hub then connects and
subscribes again, and every waiter looks at its task once more.

The hub starts with its first waiter and stops after IDLE_STOP seconds
without one, closing its connection. A forked child never uses its
parent's hub (the thread did not survive the fork): it starts its own.
"""

from __future__ import annotations

import os
import queue as _queue
import selectors
import socket
import threading
import time
import weakref
from typing import Any

from redis.exceptions import ConnectionError

from .cluster import is_cluster
from .lua import call, execute
from .signal_safe_queue import SignalSafeQueue

IDLE_STOP = 10.0
"""Seconds without a waiter after which the hub closes its connection and ends."""
LOOK_BATCH = 500
"""Watch calls per pipeline."""
SUBSCRIBE_BATCH = 1000
"""Channels per SUBSCRIBE / UNSUBSCRIBE command."""
POLL = 0.05
"""Seconds between reads when the pub/sub connection offers no socket to wait on."""


class Waiter:
    """One wait: a task, its queue's notify channel and its inbox, which gets
    ``("watch", reply, seq)``, ``("push", "<status>\\n<text>", seq)`` or
    ``("error", exception, 0)``. ``seq`` orders pushes against looks: a push's
    is the hub's count of messages read when it was read, a look's that count
    just before it was sent, so a push with a seq not above a look's was
    published before that look ran."""

    __slots__ = ("qkeys", "task_id", "channel", "inbox", "armed")

    def __init__(self, qkeys, task_id: str):
        self.qkeys, self.task_id = qkeys, task_id
        self.channel = qkeys.notify_channel
        self.inbox = SignalSafeQueue()  # a Task.wait in the main thread may take a signal
        self.armed = False

    def take(self, timeout: float) -> tuple[str, Any, int] | None:
        try:
            return self.inbox.get(timeout=max(0.0, timeout))
        except _queue.Empty:
            return None


class Hub:
    """The thread and connection every waiter of one client shares."""

    def __init__(self, client):
        self.client = client
        self.pid = os.getpid()
        self.stopped = False
        self.armed = 0
        """Waiters registered with their task and waiting for its push (tests read it)."""
        self.reads = 0
        """Messages read from the pub/sub connection so far (see Waiter)."""
        self._lock = threading.Lock()
        self._waiters: dict[tuple[str, str], list[Waiter]] = {}
        self._channels: set[str] = set()
        self._new_channels: list[str] = []
        self._fresh: list[Waiter] = []
        self._live: set[str] = set()
        """Channels whose subscription is confirmed on the current connection."""
        self._looks: list[Waiter] = []
        self._look_lock = threading.Lock()
        self._woken = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        # the hub thread's own state
        self._pubsub = None
        self._pending: set[str] = set()
        self._parked: dict[str, list[Waiter]] = {}
        self._selector: selectors.BaseSelector | None = None
        self._selected = None
        self._thread = threading.Thread(target=self._run, name="taskq-waiter-hub", daemon=True)

    # -- the waiters' side ---------------------------------------------------
    def join(self, waiter: Waiter) -> bool:
        """Register a waiter and have its task looked at (False: this hub has
        stopped, take another)."""
        with self._lock:
            if self.stopped:
                return False
            self._waiters.setdefault((waiter.channel, waiter.task_id), []).append(waiter)
            if waiter.channel not in self._channels:
                self._channels.add(waiter.channel)
                self._new_channels.append(waiter.channel)
        self.look(waiter)
        return True

    def look(self, waiter: Waiter) -> None:
        """Run the watch for this waiter; the reply comes to its inbox. On a
        confirmed channel the caller's thread runs it, with every look asked
        for meanwhile (see _lead); else the hub runs it once the channel's
        subscription is confirmed."""
        with self._lock:
            if waiter.channel in self._live:
                self._looks.append(waiter)
            else:
                self._fresh.append(waiter)
                self._wake()
                return
        self._lead()

    def leave(self, waiter: Waiter) -> None:
        with self._lock:
            if waiter.armed:
                self.armed -= 1
                waiter.armed = False
            key = (waiter.channel, waiter.task_id)
            waiters = self._waiters.get(key)
            if waiters is None or waiter not in waiters:
                return
            waiters.remove(waiter)
            if not waiters:
                del self._waiters[key]
                if not self._waiters:  # the last one: the hub starts counting idle time
                    self._wake()

    def arm(self, waiter: Waiter) -> None:
        with self._lock:
            if not waiter.armed:
                waiter.armed = True
                self.armed += 1

    def _lead(self) -> bool:
        """Run the looks asked for, one pipeline, unless another thread is
        running some (it or the hub takes these next). No thread hands its
        look to another and waits when none is running: one waiting alone
        costs one round trip, as a direct call would, and many at once share
        pipelines and one pooled connection. True when this call ran some."""
        if not self._look_lock.acquire(blocking=False):
            return False
        try:
            with self._lock:
                batch, self._looks = self._looks[:LOOK_BATCH], self._looks[LOOK_BATCH:]
            if batch:
                self._look(batch)
        finally:
            self._look_lock.release()
        with self._lock:
            if self._looks:  # asked for while this pipeline ran: the hub runs them
                self._wake()
        return bool(batch)

    def _wake(self) -> None:  # under self._lock
        if not self._woken:
            self._woken = True
            try:
                self._wake_w.send(b"x")
            except OSError:  # full: the hub has a wake pending anyway
                pass

    # -- the hub thread --------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        idle_since = time.monotonic()
        try:
            while True:
                self._drain_wake()
                with self._lock:
                    fresh, self._fresh = self._fresh, []
                    channels, self._new_channels = self._new_channels, []
                    self._woken = False
                    if self._waiters or fresh:
                        idle_since = None
                    elif idle_since is None:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since >= IDLE_STOP:
                        self.stopped = True
                        return
                try:
                    self._subscribe(channels)
                    looks = self._route(fresh)
                    looks += self._read_messages()
                except Exception as exc:  # the connection failed: a new one, or tell every waiter
                    if not self._recover(fresh):
                        self._fail_all(exc)
                    continue
                if looks:
                    with self._lock:
                        self._looks += looks
                while self._looks and self._lead():
                    pass
                self._sleep(IDLE_STOP)
        except BaseException as exc:  # a bug here must not leave waiters hanging
            with self._lock:
                self.stopped = True  # first: no waiter may join a hub that is going
            self._fail_all(exc)
            raise
        finally:
            self._close()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _sleep(self, timeout: float) -> None:
        """Until a waiter wakes the hub, something arrives, or ``timeout``."""
        sock = self._socket()
        if sock is None and self._pubsub is not None:
            timeout = min(timeout, POLL)
        if self._selector is None or sock is not self._selected:
            self._select_on(sock)
        try:
            self._selector.select(timeout)
        except (OSError, ValueError):  # the socket was closed under us: read (and reconnect)
            self._select_on(None)
            time.sleep(POLL)

    def _select_on(self, sock) -> None:
        """A selector (epoll where there is one: any fd number) on the wake
        socket and the pub/sub connection's, made anew when that changes."""
        if self._selector is not None:
            self._selector.close()
        self._selector, self._selected = selectors.DefaultSelector(), sock
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        if sock is not None:
            try:
                self._selector.register(sock, selectors.EVENT_READ)
            except (OSError, ValueError, KeyError):  # closed meanwhile: the next read reconnects
                self._selected = None

    def _socket(self):
        conn = getattr(self._pubsub, "connection", None)
        sock = getattr(conn, "_sock", None)
        try:
            return sock if sock is not None and sock.fileno() >= 0 else None
        except (OSError, AttributeError, ValueError):
            return None

    def _pubsub_client(self):
        if is_cluster(self.client):  # PUBLISH reaches every node: listen on one
            return self.client.get_redis_connection(self.client.get_default_node())
        return self.client

    def _subscribe(self, channels: list[str]) -> None:
        """Subscribe to the notify channels of queues waited on for the first
        time; a subscription lasts as long as the hub."""
        if not channels:
            return
        if self._pubsub is None:
            self._pubsub = self._pubsub_client().pubsub()
        self._pending.update(channels)
        for i in range(0, len(channels), SUBSCRIBE_BATCH):
            self._pubsub.subscribe(*channels[i:i + SUBSCRIBE_BATCH])
        conn = self._pubsub.connection
        if getattr(conn, "_taskq_hub", None) is not self:
            conn._taskq_hub = self
            conn.register_connect_callback(self._reconnected)

    def _reconnected(self, connection) -> None:
        """redis-py connected the pub/sub connection again and subscribed to its
        channels anew (PubSub.on_connect): what was published meanwhile is
        lost, so every waiter looks again once its channel is confirmed."""
        self._pending = {c.decode() if isinstance(c, bytes) else c for c in self._pubsub.channels}
        with self._lock:
            self._live.clear()
            for (channel, _), waiters in self._waiters.items():
                self._parked.setdefault(channel, []).extend(waiters)

    def _route(self, fresh: list[Waiter]) -> list[Waiter]:
        """The waiters whose channel is confirmed; park the others until it is."""
        ready = []
        for w in fresh:
            if w.channel in self._pending:
                self._parked.setdefault(w.channel, []).append(w)
            else:
                ready.append(w)
        return ready

    def _read_messages(self) -> list[Waiter]:
        """Everything the pub/sub connection has for us now; returns the waiters
        whose channel this confirmed."""
        ready: list[Waiter] = []
        ps = self._pubsub
        while ps is not None and ps.connection is not None:
            response = ps.parse_response(block=False, timeout=0)
            if response is None:
                break
            msg = ps.handle_message(response)
            if not msg:
                continue
            kind, channel, task_id, outcome = message_parts(msg)
            if kind == "message":
                self.reads += 1
                with self._lock:
                    targets = list(self._waiters.get((channel, task_id), ()))
                for w in targets:
                    w.inbox.put(("push", outcome, self.reads))
            elif kind == "subscribe" and channel in self._pending:
                self._pending.discard(channel)
                with self._lock:
                    self._live.add(channel)
                ready += self._parked.pop(channel, [])
        return ready

    def _look(self, waiters: list[Waiter]) -> None:
        """The watch for each waiter, pipelined; each reply to its waiter."""
        unique = list({id(w): w for w in waiters}.values())
        for i in range(0, len(unique), LOOK_BATCH):
            chunk = unique[i:i + LOOK_BATCH]
            seq = self.reads
            try:
                replies = self._watch(chunk)
            except ConnectionError:  # a pooled connection the server had closed: once more
                try:
                    replies = self._watch(chunk)
                except Exception as exc:
                    replies = [exc] * len(chunk)
            except Exception as exc:
                replies = [exc] * len(chunk)
            for w, reply in zip(chunk, replies):
                w.inbox.put(("error", reply, 0) if isinstance(reply, Exception) else ("watch", reply, seq))

    def _watch(self, waiters: list[Waiter]) -> list:
        pipe = self.client.pipeline(transaction=False)
        for w in waiters:
            call(pipe, "watch", w.qkeys, w.task_id)
        return execute(pipe, raise_on_error=False)

    def _recover(self, fresh: list[Waiter]) -> bool:
        """After the pub/sub connection failed: a new one, subscribed to every
        channel again, and every waiter (and ``fresh``) looks again once its
        channel is confirmed (what was published meanwhile is lost). False
        when Redis cannot be reached."""
        self._reset_pubsub()
        with self._lock:
            channels = sorted(self._channels)
            waiters = [w for ws in self._waiters.values() for w in ws]
        try:
            self._subscribe(channels)
        except Exception:
            return False
        for w in waiters + fresh:
            self._parked.setdefault(w.channel, []).append(w)
        return True

    def _fail_all(self, exc: BaseException) -> None:
        """The pub/sub connection failed beyond redis-py's own retries: every
        waiter gets the error (and ends), and the next waiter starts afresh."""
        with self._lock:
            waiters = [w for ws in self._waiters.values() for w in ws] + self._fresh
            self._waiters, self._fresh, self._looks = {}, [], []
            self._channels, self._new_channels = set(), []
        for w in {id(w): w for w in waiters}.values():
            w.inbox.put(("error", exc, 0))
        self._reset_pubsub()

    def _reset_pubsub(self) -> None:
        ps, self._pubsub = self._pubsub, None
        self._pending, self._parked = set(), {}
        with self._lock:
            self._live.clear()
        if ps is None:
            return
        conn = ps.connection
        if conn is not None and getattr(conn, "_taskq_hub", None) is self:
            # the connection goes back to the pool: no more of our callbacks on it
            conn.deregister_connect_callback(self._reconnected)
            del conn._taskq_hub
        try:
            ps.reset()
        except Exception:  # already broken: nothing left to close cleanly
            pass

    def _close(self) -> None:
        self._reset_pubsub()
        if self._selector is not None:
            self._selector.close()
        self.client = None  # lets the registry forget the client
        for s in (self._wake_r, self._wake_w):
            s.close()


def message_parts(msg: dict) -> tuple[str, str, str | None, str]:
    """A pub/sub message as (type, channel, task id, "<status>\\n<text>");
    the last two only for a published outcome (type "message")."""
    channel = msg["channel"]
    if isinstance(channel, bytes):
        channel = channel.decode()
    if msg["type"] != "message":
        return msg["type"], channel, None, ""
    return ("message", channel, *_split(msg["data"]))


def _split(data: Any) -> tuple[str | None, str]:
    """A published message: (task id, "<status>\\n<text>" or "<status>")."""
    text = data.decode() if isinstance(data, bytes) else str(data)
    length, _, rest = text.partition(":")
    try:
        n = int(length)
    except ValueError:
        return None, ""
    return rest[:n], rest[n + 1:]


_lock = threading.Lock()
_hubs: "weakref.WeakKeyDictionary[Any, Hub]" = weakref.WeakKeyDictionary()
_unweakable: dict[int, tuple[Any, Hub]] = {}


def _forget_in_child() -> None:
    """A forked child starts without hubs: their threads stayed in the parent."""
    global _lock, _hubs, _unweakable
    _lock, _hubs, _unweakable = threading.Lock(), weakref.WeakKeyDictionary(), {}


os.register_at_fork(after_in_child=_forget_in_child)


def hub_for(client) -> Hub:
    """This process's running hub for ``client``, started if needed."""
    with _lock:
        try:
            hub = _hubs.get(client)
        except TypeError:
            hub = _unweakable.get(id(client), (None, None))[1]
        if hub is None or hub.stopped or hub.pid != os.getpid():
            hub = Hub(client)
            try:
                _hubs[client] = hub
            except TypeError:  # a client that cannot be weakly referenced: kept
                _unweakable[id(client)] = (client, hub)
            hub.start()
        return hub


def join(client, waiter: Waiter) -> Hub:
    """Hand ``waiter`` to the client's hub; returns that hub."""
    while True:
        hub = hub_for(client)
        if hub.join(waiter):
            return hub
