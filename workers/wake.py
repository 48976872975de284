"""An idle worker's wait for work: block on its queues' wake keys.

One BLPOP per cluster slot its queues use (on one Redis: one BLPOP over
every wake key), each on a connection of its own, waited on together with
select(): a wake on any queue ends the wait at once, in one thread, with no
polling, and the wait says which queues woke it, so only those are claimed.
The wait also ends at a deadline the worker computes (its queues' next due
timer: a delayed task, a lease to reap), to the millisecond: a BLPOP's own
timeout is only as precise as the server's clock tick (100 ms at hz 10), so
the BLPOP is sent with a longer timeout and the wait ends by select().

A BLPOP still outstanding when a wait ends stays outstanding; the next
wait reads its reply first (:meth:`Wake.settle` ends it at once, with
CLIENT UNBLOCK, when the worker will not wait for a while). On one Redis a
command may ride behind the BLPOP on its connection (the claim of a worker
serving one queue), so it runs in Redis the moment a wake arrives instead
of a round trip later; a wait that ends first unblocks the BLPOP to get the
rider's reply, so no rider is ever left outstanding.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from typing import Any, Callable

from redis.exceptions import AskError, ClusterDownError, MovedError, ResponseError, TryAgainError

from taskq.cluster import is_cluster
from taskq.lua import script

MIN_BLOCK = 0.01
"""A BLPOP timeout of 0 blocks forever: a wait with less left than this ends."""
SELECT_MARGIN = 0.25
"""Seconds a wait as long as the BLPOP's timeout outlasts it: the reply that
is due arrives within it (the server ends blocking calls on its clock tick)."""


def slot_groups(client: Any, keys: list[str]) -> list[list[str]]:
    """``keys`` grouped by cluster slot, in first-seen order (one group on
    one Redis)."""
    if not is_cluster(client):
        return [list(keys)]
    groups: dict[int, list[str]] = {}
    for key in keys:
        groups.setdefault(client.keyslot(key), []).append(key)
    return list(groups.values())


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


class Wake:
    """Waits for a token on any of ``keys`` (one Redis or a cluster).
    Connection errors are raised, as from any Redis call; the next wait
    connects again. ``block``: the BLPOPs' own timeout, in seconds."""

    def __init__(self, client: Any, keys: list[str], block: float = 1.0):
        self.client = client
        self.keys = list(keys)
        self.block = block
        self.single = len(slot_groups(client, self.keys)) == 1
        self._waits: list[_Wait] = []
        self._pipe: tuple[int, int] | None = None
        self._listening = False
        self._old_wakeup_fd: int | None = None

    def interrupt(self) -> None:
        """End a wait_for(..., done=...) under way now (any thread)."""
        if self._listening and self._pipe is not None:
            try:
                os.write(self._pipe[1], b"\0")
            except OSError:  # full: it ends anyway
                pass

    def wait_for(self, timeout: float, rider: tuple | None = None,
                 done: Callable[[], bool] | None = None) -> tuple[list[str], Any]:
        """Wait until a token arrives (a wake), ``timeout`` seconds pass, or
        with ``done``: :meth:`interrupt` is called (or ``done()`` is already
        true). Returns the wake keys popped and the reply of ``rider`` (a
        command, one Redis only: sent behind the BLPOP, so it runs when the
        BLPOP ends; None when none was sent; an error reply is returned, not
        raised)."""
        if done is None:
            return self._wait(timeout, rider, None)
        if self._pipe is None:
            self._pipe = os.pipe()
            for fd in self._pipe:
                os.set_blocking(fd, False)
            self._old_wakeup_fd = _wake_on_signals(self._pipe[1])
        self._listening = True
        try:
            if done():
                return [], None
            return self._wait(timeout, rider, self._pipe[0])
        finally:
            self._listening = False

    def _wait(self, timeout: float, rider: tuple | None, signal: int | None) -> tuple[list[str], Any]:
        if not self.single:
            rider = None  # a rider rides the BLPOP of the one group only
        # (one still outstanding from an earlier wait takes it when it is sent again)
        deadline = time.monotonic() + (timeout + SELECT_MARGIN if timeout >= self.block else timeout)
        woken: list[str] = []
        reply = None
        try:
            if not self._waits:
                for group in slot_groups(self.client, self.keys):
                    self._waits.append(_Wait(self.client, group))
            while True:
                left = deadline - time.monotonic()
                if left < MIN_BLOCK:
                    break
                for w in self._waits:
                    if not w.pending:
                        w.start(self.block, rider)
                        rider = None
                fds = [w.fileno() for w in self._waits] + ([signal] if signal is not None else [])
                ready = select.select(fds, [], [], left)[0]
                if not ready:
                    break
                if signal is not None and signal in ready:
                    _drain(signal)
                for w in self._waits:
                    if w.fileno() in ready:
                        key, got = w.finish()
                        woken += [key] if key is not None else []
                        reply = got if got is not None else reply
                if woken or reply is not None or (signal is not None and signal in ready):
                    break
                # only timed-out BLPOPs (maybe left from an earlier wait): go on
            for w in self._waits:
                if w.rider:  # its reply is due now: end the BLPOP
                    key, reply = w.unblock()
                    woken += [key] if key is not None else []
            return woken, reply
        except (MovedError, AskError, TryAgainError, ClusterDownError):
            # a slot moved: wait on the new map next time; every queue may have work
            self.close()
            self.client.nodes_manager.initialize()
            return list(self.keys), None
        except BaseException:
            self.close()
            raise

    def settle(self) -> list[str]:
        """End every outstanding BLPOP at once (CLIENT UNBLOCK), before a
        while without waiting; a token one popped meanwhile is pushed back
        for an idle peer. Returns the keys of such tokens."""
        woken = []
        try:
            for w in self._waits:
                if w.pending:
                    key, _ = w.unblock()
                    woken += [key] if key is not None else []
        except BaseException:
            self.close()
            raise
        for key in woken:
            self.client.lpush(key, "1")
        return woken

    def close(self, pipe: bool = False) -> None:
        """Drop the BLPOP connections (the next wait opens them again); with
        ``pipe``, the interrupt pipe too (when no wait can run any more)."""
        for w in self._waits:
            w.close()
        self._waits = []
        if pipe and self._pipe is not None:
            if self._old_wakeup_fd is not None:  # before the fd closes (and its number is reused)
                signal.set_wakeup_fd(self._old_wakeup_fd)
                self._old_wakeup_fd = None
            fds, self._pipe = self._pipe, None
            for fd in fds:
                os.close(fd)


class SlotWake(Wake):
    """``wait(timeout)`` until a token arrives on any of ``keys``: True when
    one was popped, False when the wait timed out (the rq worker classes)."""

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) >= MIN_BLOCK:
            if self.wait_for(min(left, self.block))[0]:
                return True
        return False


class Plan:
    """Which of a worker's queues to claim, and when: those a wake named,
    whose last claim filled the room (they may hold more), whose next timer
    is due (a claim's reply says when: claim-30.lua), and one more in turn
    at each idle second (:meth:`next_in_turn`: timers added without a wake,
    or that a scheduler would reap). All of them at first and after an
    outage; every time in burst mode (which ends when all are empty)."""

    def __init__(self, queues: list[str], keys: list[str]):
        self.queues = list(queues)
        self._rank = {q: i for i, q in enumerate(self.queues)}
        self._of_key = dict(zip(keys, self.queues))
        self._hot: dict[str, None] = {}
        self._due: dict[str, float] = {}  # queue -> monotonic time its next timer is due
        self._turn = 0
        self.burst = False
        self.all()

    def all(self) -> None:
        self._hot = dict.fromkeys(self.queues)

    def mark(self, queue: str) -> None:
        self._hot[queue] = None

    def woken(self, keys: list[str]) -> None:
        """Wake keys popped: their queues are claimed next."""
        for key in keys:
            self._hot[self._of_key[key]] = None

    def next_in_turn(self) -> None:
        self._hot[self.queues[self._turn % len(self.queues)]] = None
        self._turn += 1

    def claimable(self) -> list[str]:
        """The queues to claim now, in the order the worker serves them."""
        now = time.monotonic()
        for q in [q for q, at in self._due.items() if at <= now]:
            del self._due[q]
            self._hot[q] = None
        if self.burst or len(self._hot) == len(self.queues):
            return list(self.queues)
        return sorted(self._hot, key=self._rank.__getitem__)

    def learn(self, due: dict[str, int], filled: bool) -> bool:
        """After a claim: the queues it asked need none until their next
        timer (``due``: ms, -1 none) or a wake; the last one asked stays
        to claim when the claim ``filled`` the room. Returns ``filled``."""
        now = time.monotonic()
        for q, ms in due.items():
            self._hot.pop(q, None)
            if ms >= 0:
                self._due[q] = now + ms / 1000
            else:
                self._due.pop(q, None)
        if filled and due:
            self._hot[list(due)[-1]] = None
        return filled

    def until_due(self, longest: float) -> float:
        """Seconds until the next known timer, at most ``longest``."""
        if not self._due:
            return longest
        return max(0.0, min(longest, min(self._due.values()) - time.monotonic()))


def script_command(verb: str, queue_keys: Any, *args: Any) -> tuple:
    """A queue script's call as a command (a rider of :meth:`Wake.wait_for`)."""
    s = script(verb)
    return ("EVALSHA", s.sha, s.numkeys, *queue_keys.script_keys, *args)


def _wake_on_signals(fd: int) -> int | None:
    """Make ``fd`` the process's signal wakeup fd (main thread only); returns
    the one it replaces, or None when not set. The kernel may deliver a
    SIGTERM to any thread: the main thread, blocked in select(), then sleeps
    on, and Python runs its handler only when that thread next runs bytecode,
    once for several signals of the same number in the meantime, so a second
    SIGTERM (the cold stop) was taken as the first. A byte on the wakeup fd
    for every signal ends the wait at once."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    except ValueError:
        return None


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


class _Wait:
    """One slot's BLPOP on a connection of its own (and its CLIENT ID, so
    another connection can end it)."""

    def __init__(self, client: Any, keys: list[str]):
        if is_cluster(client):
            node = client.nodes_manager.get_node_from_slot(client.keyslot(keys[0]))
            self.pool = client.get_redis_connection(node).connection_pool
        else:
            self.pool = client.connection_pool
        self.conn = self.pool.get_connection()
        self.keys = keys
        self.pending = False
        self.rider = False
        self.id = None
        self._packed: tuple[float, list] | None = None

    def start(self, timeout: float, rider: tuple | None) -> None:
        if self.conn._sock is None or self.id is None:  # (re)connected: a new client id
            self.conn.send_command("CLIENT", "ID")
            self.id = self.conn.read_response()
        if self._packed is None or self._packed[0] != timeout:
            # packed once: a thousand keys take a while to encode, time the
            # task just claimed would wait for the GIL
            self._packed = (timeout, self.conn.pack_commands([("BLPOP", *self.keys, timeout)]))
        packed = list(self._packed[1])
        if rider is not None:
            packed += self.conn.pack_commands([rider])
        self.conn.send_packed_command(packed)
        self.pending, self.rider = True, rider is not None

    def fileno(self) -> int:
        return self.conn._sock.fileno()

    def finish(self) -> tuple[str | None, Any]:
        """The key the BLPOP popped (None: it timed out) and the rider's reply."""
        self.pending = False
        try:
            popped = self.conn.read_response()
        finally:
            reply = None
            if self.rider:
                self.rider = False
                try:
                    reply = self.conn.read_response()
                except ResponseError as exc:  # NOSCRIPT, say: the caller sends it again
                    reply = exc
        return (_text(popped[0]) if popped else None), reply

    def unblock(self) -> tuple[str | None, Any]:
        """End the outstanding BLPOP now (from another connection of the same
        node's pool) and read its reply."""
        other = self.pool.get_connection()
        try:
            other.send_command("CLIENT", "UNBLOCK", self.id)
            other.read_response()
        finally:
            self.pool.release(other)
        return self.finish()

    def close(self) -> None:
        if self.pending:  # its reply would be read as the next command's
            self.conn.disconnect()
            self.pending = self.rider = False
        self.pool.release(self.conn)
