"""A hand-off queue whose timed get a signal cannot turn into a wait forever.

CPython's C ``queue.SimpleQueue.get(timeout=...)`` (3.11 and later, as
shipped here) recomputes its timeout after a signal handler ran inside the
wait; when the handler ran past the deadline the new timeout is negative,
which the lock takes as "no timeout": the get then waits until the next put.
The main thread takes every signal, so a worker's main loop waiting for a
finished task (or a producer in ``Task.wait``) could hang for good when a
SIGTERM's handler ran at the wrong moment. A plain lock's
``acquire(timeout=...)`` checks for a passed deadline after a handler, so
the timed wait goes through one, used as a doorbell (held: nothing new; a
put releases it); items still travel through a SimpleQueue. A put costs one
lock release more, and a wake is one futex wake, as in SimpleQueue itself
(a threading.Event, with its condition variable, made Task.wait ~7 % slower).
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any


class SignalSafeQueue:
    """Many producers, one consumer: put, get(timeout), get_nowait, empty."""

    __slots__ = ("_items", "_bell")

    def __init__(self) -> None:
        self._items: queue.SimpleQueue = queue.SimpleQueue()
        self._bell = threading.Lock()
        self._bell.acquire()  # held: nothing put since the consumer last looked

    def put(self, item: Any) -> None:
        self._items.put(item)
        if self._bell.locked():
            try:
                self._bell.release()
            except RuntimeError:  # another producer rang it just now
                pass

    def empty(self) -> bool:
        return self._items.empty()

    def get_nowait(self) -> Any:
        """The next item; raises queue.Empty when there is none."""
        return self._items.get_nowait()

    def get(self, timeout: float) -> Any:
        """The next item, waiting up to ``timeout`` seconds for one; raises
        queue.Empty when none came. (A ring left from an item taken by
        get_nowait only makes one look more.)"""
        deadline = None
        while True:
            try:
                return self._items.get_nowait()
            except queue.Empty:
                pass
            now = time.monotonic()
            if deadline is None:
                deadline = now + max(0.0, timeout)
            if now >= deadline or not self._bell.acquire(timeout=deadline - now):
                raise queue.Empty
