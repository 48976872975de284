"""Task ids: ``<queue>:<local>`` where local is time-ordered and random.

The local part is 10 Crockford base32 characters of milliseconds since the
epoch followed by 12 of randomness (60 bits), so ids sort by creation and two
producers never collide in practice. Embedding the queue lets any id find its
keys without a lookup (see taskq.keys).
"""

from __future__ import annotations

import os
import threading
import time

from .keys import ID_SEP

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _b32(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


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
            ms, rnd = _last[0], (_last[1] + 1) & (2**60 - 1)
        else:
            rnd = int.from_bytes(os.urandom(8), "big") >> 5  # headroom to count up
        _last[0], _last[1] = ms, rnd
    return _b32(ms, 10) + _b32(rnd, 12)


def new_task_id(queue: str) -> str:
    return f"{queue}{ID_SEP}{new_local_id()}"


def new_token() -> str:
    """A lease token: 128 random bits, unguessable by other holders."""
    return os.urandom(16).hex()
