"""``taskq migrate``: move the data of older key schemas to the current one.

Each step moves the keys one release renamed (taskq.schema lists them).
Steps are idempotent and every run takes them all, in order, then stamps
``CURRENT``: running it twice is running it once, and running it again once
the processes of the previous release have stopped carries over what they
wrote after the first run. Workers of the previous release may drain while
it runs: the keys moved so far are TaskDriver records, which workers do not
touch.

Keys move across cluster slots, so a move is a copy and a delete, never a
RENAME: DUMP + RESTORE (type, value and TTL kept), then the old key is
deleted only if it still holds what was copied (lua/unlink_unchanged-1.lua);
one written meanwhile is copied again. When the new key exists already (a
run stopped between copy and delete, or a process of this release wrote
it), the old key's content is merged into it: its hash fields, set and
sorted-set members and string value win, as they are either the same or
were written later, by a process of the previous release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import redis

from .connection import as_taskq_client
from .keys import Keys, TaskDriverKeysV1
from .lua import call_with_keys
from .schema import CURRENT, UNVERSIONED, SchemaError, has_v1_data, parse, refuse_other

MOVE_TRIES = 5
"""Copies of one key before giving up on a key that keeps changing."""
SCAN_COUNT = 1000


class MigrationError(SchemaError):
    """A key could not be moved; the version is left as it was."""


@dataclass
class Report:
    """What a run did: the version found, and the keys it moved."""

    found: int
    moved: int = 0
    merged: int = 0
    steps: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # why each key left in place stayed

    def summary(self, prefix: str) -> str:
        if not (self.moved or self.merged):
            if self.found == CURRENT:
                return f"key schema {CURRENT} (prefix {prefix!r}): nothing to move"
            return f"key schema {CURRENT} (prefix {prefix!r}, was {self.found}): nothing to move"
        merged = f", {self.merged} merged into keys that existed" if self.merged else ""
        return (f"key schema {CURRENT} (prefix {prefix!r}, was {self.found}): moved "
                f"{self.moved + self.merged} keys{merged} ({'; '.join(self.steps)})")


def migrate(client, prefix: str) -> Report:
    """Bring the data under ``prefix`` to key schema CURRENT (idempotent).
    SchemaNewer when a newer release wrote it; MigrationError when a key
    cannot be moved (the others are; the version is not stamped)."""
    client = as_taskq_client(client)
    keys = Keys(prefix)
    stored = client.get(keys.schema)
    if stored is not None:
        found = parse(stored, prefix)
    else:
        found = UNVERSIONED if has_v1_data(client, prefix) else CURRENT
    if found > CURRENT:
        refuse_other(found, prefix)
    report = Report(found)
    for step in MIGRATIONS:
        step(client, prefix, report)
    if report.kept:
        more = f" (and {len(report.kept) - 1} more)" if len(report.kept) > 1 else ""
        raise MigrationError(f"{report.kept[0]}{more}; the other keys were moved, the version "
                             f"is still {found}")
    client.set(keys.schema, CURRENT)
    return report


def taskdriver_hash_tag(client, prefix: str, report: Report) -> None:
    """Schema 1 -> 2: TaskDriver keys from ``<prefix>:td:`` to ``<prefix>:{td}:``."""
    v1 = TaskDriverKeysV1(prefix)
    old_keys = list(client.scan_iter(match=v1.pattern, count=SCAN_COUNT))
    before = report.moved + report.merged
    for old in old_keys:
        try:
            outcome = move_key(client, old, v1.renamed(old))
        except MigrationError as exc:
            report.kept.append(str(exc))
            continue
        if outcome == "moved":
            report.moved += 1
        elif outcome == "merged":
            report.merged += 1
    if report.moved + report.merged > before:
        report.steps.append(f"{prefix}:td:* -> {prefix}:{{td}}:*")


MIGRATIONS: list[Callable[[object, str, Report], None]] = [taskdriver_hash_tag]
"""Step i moves schema i + 1 to i + 2, in order; all are run every time."""


def move_key(client, src: str, dst: str) -> str:
    """Move ``src`` to ``dst`` (any two slots): "moved", "merged" (into an
    existing ``dst``) or "gone" (``src`` vanished first)."""
    for _ in range(MOVE_TRIES):
        pipe = client.pipeline(transaction=False)  # one key: one slot
        pipe.dump(src)
        pipe.pttl(src)
        payload, pttl = pipe.execute()
        if payload is None:
            return "gone"
        ttl = 0 if pttl < 0 else max(pttl, 1)  # RESTORE's 0 is "no expiry"
        try:
            client.restore(dst, ttl, payload)
            outcome = "moved"
        except redis.ResponseError as exc:
            if "BUSYKEY" not in str(exc):
                raise
            outcome = "moved" if client.dump(dst) == payload else _merge(client, src, dst, pttl)
        if call_with_keys(client, "unlink_unchanged", [src], payload):
            return outcome
    raise MigrationError(f"{src} changed {MOVE_TRIES} times while it was being moved: run "
                         f"`taskq migrate` again once the processes writing it have stopped")


def _merge(client, src: str, dst: str, pttl: int) -> str:
    """Merge ``src`` into the existing ``dst``, ``src`` winning; "merged"."""
    kind = client.type(src)
    try:
        if kind == "hash":
            fields = client.hgetall(src)
            if fields:
                client.hset(dst, mapping=fields)
        elif kind == "zset":
            members = dict(client.zrange(src, 0, -1, withscores=True))
            if members:
                client.zadd(dst, members)
        elif kind == "set":
            members = client.smembers(src)
            if members:
                client.sadd(dst, *members)
        elif kind == "string":
            value = client.get(src)
            if value is not None:
                client.set(dst, value, keepttl=True)
        elif kind != "none":
            raise MigrationError(f"{src} ({kind}) and {dst} both exist and differ; a {kind} "
                                 f"is not merged: compare them, delete one, run `taskq migrate` "
                                 f"again")
    except redis.ResponseError as exc:  # WRONGTYPE: dst is of another type
        raise MigrationError(f"{src} and {dst} both exist and cannot be merged ({exc}): "
                             f"compare them, delete one, run `taskq migrate` again") from None
    if pttl > 0 and client.pttl(dst) > 0:
        client.pexpire(dst, max(pttl, client.pttl(dst)))
    return "merged"


__all__ = ["MOVE_TRIES", "MigrationError", "Report", "MIGRATIONS", "migrate", "move_key"]
