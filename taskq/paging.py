"""Read-only walks over a queue's index zsets (the ``page`` script), so a
filtered listing examines the entries up to its page instead of reading
every task it might match.

A walk goes through one index (``all`` or a tag's zset, both in creation
order, or a status zset) by rank, a bounded number of entries per script
call, keeping the tasks whose status, holder and tags pass the filters. It
stops once it has the page (or, with ``count_all``, at the end of the index,
so its count is exact), or after ``max_examined`` entries (``capped``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .keys import QueueKeys
from .lua import call

FIRST_CHUNK = 256
MAX_CHUNK = 5000
"""Entries one script call examines at most: a few milliseconds of Redis time."""


@dataclass
class Walk:
    ids: list[str] = field(default_factory=list)
    matched: int = 0       # matches among the examined entries
    examined: int = 0
    ended: bool = False    # the whole index was examined (matched is exact)
    capped: bool = False   # stopped at max_examined before the page was full


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def walk_index(redis, qkeys: QueueKeys, index: str = "all", tag: str | None = None,
               newest_first: bool = True, skip: int = 0, take: int = 0, count_all: bool = False,
               statuses: Iterable[str] = (), worker: str | None = None, tags: Iterable[str] = (),
               max_examined: int = 100_000) -> Walk:
    """Matches ``skip+1 .. skip+take`` of the index in its order (newest
    first: reverse rank order), and how many matches were seen."""
    if index == "tag" and not tag:
        raise ValueError("index 'tag' needs a tag")
    filters = [",".join(statuses), worker or "", *tags]
    w, rank, chunk, seen = Walk(), 0, max(FIRST_CHUNK, 2 * (skip + take)), set()
    while True:
        budget = min(chunk, MAX_CHUNK, max_examined - w.examined)
        if budget <= 0:
            w.capped = True
            return w
        reply = call(redis, "page", qkeys, index, tag or "", rank, budget,
                     "1" if newest_first else "0", max(0, skip - w.matched), take - len(w.ids),
                     "1" if count_all else "0", *filters)
        next_rank, examined, matched = (int(x) for x in reply[:3])
        w.examined += examined
        w.matched += matched
        for tid in map(_text, reply[3:]):
            if tid not in seen:  # a task added meanwhile shifts ranks by one
                seen.add(tid)
                w.ids.append(tid)
        if next_rank < 0:
            w.ended = True
            return w
        if not count_all and len(w.ids) >= take:
            return w
        rank, chunk = next_rank, chunk * 2


__all__ = ["Walk", "walk_index"]
