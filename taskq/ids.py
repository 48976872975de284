"""Task ids: ``<queue>:<local>`` where local is time-ordered and random.

The local part is 24 characters of base32 ("extended hex" alphabet, which
sorts like the numbers it encodes): 48 bits of milliseconds since the epoch,
then 72 random bits, counted up within one millisecond of one process. So
ids sort by creation and two producers never collide in practice.
Embedding the queue lets any id find its keys without a lookup (see
taskq.keys).
"""

from __future__ import annotations

import os
import threading
import time

from .keys import ID_SEP

_RANDOM_BITS = 72
_ALPHABET = "0123456789abcdefghijklmnopqrstuv"  # base32 "extended hex", lowercase
_PAIRS = [_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024)]  # 10 bits -> 2 chars
_SHIFTS = range(110, -1, -10)  # 120 bits, most significant first
_last = [0, 0]  # (ms, random) of this process's previous id
_lock = threading.Lock()


def _reset_after_fork() -> None:
    # A forked child must not count on from its parent's last id.
    _last[0] = _last[1] = 0


os.register_at_fork(after_in_child=_reset_after_fork)


def new_local_id() -> str:
    """Monotonic within a process: ids made in the same millisecond count up
    from one random start, so they sort in creation order (index zsets with
    equal millisecond scores order their members by id)."""
    ms = time.time_ns() // 1_000_000
    with _lock:
        if ms <= _last[0]:
            ms, rnd = _last[0], (_last[1] + 1) % (1 << _RANDOM_BITS)
        else:
            rnd = int.from_bytes(os.urandom(9), "big") >> 1  # headroom to count up
        _last[0], _last[1] = ms, rnd
    value = (ms << _RANDOM_BITS) | rnd
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


def new_task_id(queue: str) -> str:
    return f"{queue}{ID_SEP}{new_local_id()}"


def new_token() -> str:
    """A lease token: 128 random bits, unguessable by other holders."""
    return os.urandom(16).hex()
