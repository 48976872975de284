"""Task ids: ``<queue>:<local>`` where local is time-ordered and random.

The local part is 10 Crockford base32 characters of milliseconds since the
epoch followed by 12 of randomness (60 bits), so ids sort by creation and two
producers never collide in practice. Embedding the queue lets any id find its
keys without a lookup (see taskq.keys).
"""

from __future__ import annotations

import os
import time

from .keys import ID_SEP

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _b32(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_local_id() -> str:
    ms = time.time_ns() // 1_000_000
    rnd = int.from_bytes(os.urandom(8), "big") >> 4
    return _b32(ms, 10) + _b32(rnd, 12)


def new_task_id(queue: str) -> str:
    return f"{queue}{ID_SEP}{new_local_id()}"


def new_token() -> str:
    """A lease token: 128 random bits, unguessable by other holders."""
    return os.urandom(16).hex()
