"""What the process that ran a task made of it, shared between a forking
worker's horse and its parent.

A horse reaches Redis for nothing of its own: it runs the body and writes
what is to be reported (complete with the result's JSON, fail, cancel,
give back, lease lost) here; the parent, whose connections are open and
warm, reports it once the horse has exited. A horse opening two
connections of its own (RQ's and taskq's) for a report and RQ's
bookkeeping cost more CPU per task than the rest of the horse: in a fresh
fork every code path it walks copies the pages it touches.

Shared state: an anonymous shared map (whether a report is waiting, and
its size) and a file (a memfd on Linux, else an unlinked temporary file)
that holds the pickled report, of any size. The waiting flag is set only
after the report is written in full, so a horse killed halfway leaves
none. The same map holds what the worker made of the task (the outcome
byte) and whether RQ's traces of the job are gone, which only the process
that reports writes.
"""

from __future__ import annotations

import json
import mmap
import os
import pickle
import struct
import tempfile
from typing import Any

# Outcomes (byte 0): _UNKNOWN: Redis could not be reached, the lease will
# expire and the engine decides; _RETURNED: given back (queued again,
# attempt not counted): a command the worker's stop took down.
_NONE, _COMPLETED, _FAILED, _CANCELLED, _LOST, _UNKNOWN, _RETRYING, _RETURNED = range(8)
_OUTCOME, _CLEANED, _WAITING = 0, 1, 2
_SIZE = struct.Struct("<Q")  # at offset 8: the waiting report's length
SHRINK_ABOVE = 1 << 20
"""A report file that held more than this many bytes is emptied once read."""

_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)
"""The engine's encoding of a result (taskq.lease): the horse encodes, so
a result that cannot be encoded fails the task there, as it would have
when the horse reported itself."""


def encode_result(value: Any) -> str:
    return _ENCODER.encode(value)


def decode_result(text: str) -> Any:
    return json.loads(text)


class SharedOutcome:
    """The outcome byte and the report a horse leaves its parent."""

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, 16)
        self._file = None
        self._fd = -1

    def __getitem__(self, index: int) -> int:
        return self._map[index]

    def __setitem__(self, index: int, value: int) -> None:
        self._map[index] = value

    def reset(self) -> None:
        """Before a task: nothing reported, nothing cleaned, no report waiting."""
        self._map[_OUTCOME] = _NONE
        self._map[_CLEANED] = 0
        self._map[_WAITING] = 0

    def open(self) -> None:
        """Make the report file (in the parent, before its first fork)."""
        if self._fd >= 0:
            return
        try:
            self._fd = os.memfd_create("taskq-report", os.MFD_CLOEXEC)
        except (AttributeError, OSError):
            self._file = tempfile.TemporaryFile()
            self._fd = self._file.fileno()

    def leave(self, report: tuple) -> None:
        """In the horse: leave ``report`` for the parent to carry out."""
        data = pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL)
        view, offset = memoryview(data), 0
        while offset < len(data):
            offset += os.pwrite(self._fd, view[offset:], offset)
        _SIZE.pack_into(self._map, 8, len(data))
        self._map[_WAITING] = 1

    def take(self) -> tuple | None:
        """In the parent: the report the horse left, once (None: none)."""
        if self._fd < 0 or not self._map[_WAITING]:
            return None
        self._map[_WAITING] = 0
        size = _SIZE.unpack_from(self._map, 8)[0]
        chunks, offset = [], 0
        try:
            while offset < size:
                chunk = os.pread(self._fd, size - offset, offset)
                if not chunk:
                    break
                chunks.append(chunk)
                offset += len(chunk)
            if size > SHRINK_ABOVE:
                os.ftruncate(self._fd, 0)
            return pickle.loads(b"".join(chunks))
        except (OSError, EOFError, ValueError, pickle.UnpicklingError):
            return None  # as if none was left: the task "ended without reporting"
