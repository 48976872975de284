"""The key-schema version: which layout the keys under a prefix are in.

A release that renames or reshapes keys raises ``CURRENT`` and ships a step
in taskq.migrations (``taskq migrate``). Every process reads the version
once at start (taskq.startup) and refuses, in one line, data in another
layout rather than write beside it. The version lives in one string per key
prefix (``Keys(prefix).schema``): a single key, so on a Redis Cluster any
client reaches it, whichever slot it hashes to.

History:
  1  no version key: TaskDriver records under ``<prefix>:td:``
  2  TaskDriver records under ``<prefix>:{td}:`` (one cluster slot)

A Redis with no version key is either new (or holds only data whose keys
did not change) or holds schema-1 TaskDriver data. The two are told apart
by the schema-1 index keys (one pipelined round trip, paid only while the
version key is missing): new data gets ``CURRENT`` stamped; old data must be
migrated first.
"""

from __future__ import annotations

import re

from redis.exceptions import ResponseError

from .errors import TaskqError, is_oom
from .keys import Keys, TaskDriverKeysV1

CURRENT = 2
"""The key schema this code reads and writes."""
UNVERSIONED = 1
"""What data without a version key is, when it holds schema-1 keys."""


class SchemaError(TaskqError):
    """The data is not in the key schema this taskq uses (one-line message)."""

    code = "schema_mismatch"

    def __init__(self, message: str, found: int | None = None):
        super().__init__(message)
        self.found = found


class SchemaOutdated(SchemaError):
    """Data of an older release: ``taskq migrate`` moves it."""


class SchemaNewer(SchemaError):
    """Data written by a newer release: this one must not touch it."""


def parse(stored: str | None, prefix: str) -> int:
    """The version in the version key's text (SchemaError when it is not one)."""
    if stored is None or not re.fullmatch(r"[1-9][0-9]{0,8}", stored):
        shown = repr(stored) if stored is None or len(stored) <= 40 else repr(stored[:40]) + "..."
        raise SchemaError(f"{Keys(prefix).schema} holds {shown}, not a key-schema version: "
                          f"set it right, or delete it to have it found again")
    return int(stored)


def has_v1_data(client, prefix: str) -> bool:
    """Whether schema-1 TaskDriver keys exist (one pipelined round trip;
    one EXISTS per key, as they live in different cluster slots)."""
    pipe = client.pipeline(transaction=False)
    for key in TaskDriverKeysV1(prefix).indexes:
        pipe.exists(key)
    return any(pipe.execute())


def check(client, prefix: str, stored: str | None) -> int:
    """CURRENT, or SchemaOutdated / SchemaNewer. ``stored`` is the version
    key's value as the caller read it (taskq.startup reads it with its
    first command, so a stamped Redis costs no round trip here). A Redis
    with no version key and no schema-1 data gets CURRENT stamped."""
    if stored is None:
        if has_v1_data(client, prefix):
            version = UNVERSIONED
        elif _stamp(client, prefix):
            return CURRENT
        else:  # another process stamped it meanwhile
            version = parse(client.get(Keys(prefix).schema), prefix)
    else:
        version = parse(stored, prefix)
    return refuse_other(version, prefix)


def _stamp(client, prefix: str) -> bool:
    """Write CURRENT unless a version is there (True: this call wrote it).
    A full Redis refuses the write: the data, having no older schema's
    keys, is in this one anyway, and a later start stamps it."""
    try:
        return bool(client.set(Keys(prefix).schema, CURRENT, nx=True))
    except ResponseError as exc:
        if not is_oom(exc):
            raise
        return True


def refuse_other(version: int, prefix: str) -> int:
    """``version`` when it is CURRENT, else the error that says what to do."""
    where = f"the data under key prefix {prefix!r}"
    if version < CURRENT:
        raise SchemaOutdated(f"{where} is in key schema {version}, this taskq uses "
                             f"{CURRENT}: run `taskq migrate` (safe to repeat), then start "
                             f"again", version)
    if version > CURRENT:
        raise SchemaNewer(f"{where} is in key schema {version}, written by a newer taskq; "
                          f"this one knows schemas up to {CURRENT}: upgrade taskq", version)
    return version


__all__ = ["CURRENT", "UNVERSIONED", "SchemaError", "SchemaNewer", "SchemaOutdated", "check",
           "has_v1_data", "parse", "refuse_other"]
