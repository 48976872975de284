"""Listing pages read in Redis, at a cost that follows the page, not the queue.

Orders an index keeps are paged in Redis: creation order (``all`` and each
tag's zset are scored by created ms, ties by id), and end time for one
finished status (its zset is scored by finished ms). A status filter in
creation order walks ``all`` newest (or oldest) first with the ``page``
script until the page is full, or, when the status holds few tasks, reads
those tasks' creation scores with ZMSCORE. Totals come from ZCARD where an
index holds exactly the matches.

What no index orders (another sort field, a filter no index holds, such as
a TaskDriver agent or a status within a tag, whose total needs every
candidate) reads every candidate: capped at SORT_CAP tasks to sort and
WALK_CAP index entries to examine, past which the listing is refused with
422 (``sort_too_large`` / ``filter_too_large``) rather than tying Redis up.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from taskq import Queue
from taskq.paging import walk_index

from ..errors import ApiError

SORT_CAP = 10_000
"""Tasks a listing reads and sorts in Python at most."""
WALK_CAP = 100_000
"""Index entries a filtered walk examines at most (a few hundred ms of Redis time)."""
DIRECT_MAX = 2_000
"""A status filter matching at most this many tasks reads them directly
(ZMSCORE) instead of walking the whole queue in creation order."""
MSCORE_CHUNK = 1000


def too_large(code: str, what: str, n: int, cap: int, hint: str) -> ApiError:
    return ApiError(422, code, f"{what} would read {n} tasks, more than {cap}; {hint}",
                    {"matching": n, "cap": cap})


def scores(redis, key: str, ids: Sequence[str]) -> list:
    """ZMSCORE in chunks: each id's score in key (None when absent)."""
    pipe = redis.pipeline(transaction=False)
    for i in range(0, len(ids), MSCORE_CHUNK):
        pipe.zmscore(key, list(ids[i:i + MSCORE_CHUNK]))
    return [s for part in (pipe.execute() if ids else []) for s in part]


def members(redis, keys: Iterable[str]) -> list[str]:
    pipe = redis.pipeline(transaction=False)
    for k in keys:
        pipe.zrange(k, 0, -1)
    return [tid for part in pipe.execute() for tid in part]


def cards(redis, keys: Iterable[str]) -> int:
    pipe = redis.pipeline(transaction=False)
    for k in keys:
        pipe.zcard(k)
    return sum(pipe.execute())


def in_creation_order(q: Queue, ids: Sequence[str], newest_first: bool,
                      key: str | None = None) -> list[str]:
    """ids ordered as the ``all`` zset orders them (created ms, then id);
    ids absent from key (default ``all``) are dropped."""
    rows = [(s, tid) for tid, s in zip(ids, scores(q.redis, key or q.qkeys.all, ids)) if s is not None]
    rows.sort(reverse=newest_first)
    return [tid for _, tid in rows]


def by_creation(q: Queue, statuses: Sequence[str], newest_first: bool, offset: int,
                limit: int, walk_cap: int = WALK_CAP) -> tuple[list[str], int]:
    """One page of the tasks in any of statuses, in creation order, and
    their total (ZCARD of the status zsets)."""
    keys = [q.qkeys.status_index(s) for s in statuses]
    total = cards(q.redis, keys)
    if total == 0 or offset >= total:
        return [], total
    if total > DIRECT_MAX:
        w = walk_index(q.redis, q.qkeys, "all", newest_first=newest_first, skip=offset,
                       take=limit, statuses=statuses, max_examined=walk_cap)
        if not w.capped:
            return w.ids, total
        if total > SORT_CAP:
            raise too_large("filter_too_large", "this status filter in this order", total, SORT_CAP,
                            "reverse the order or narrow the filter")
    ordered = in_creation_order(q, members(q.redis, keys), newest_first)
    return ordered[offset:offset + limit], len(ordered)


def by_index_score(q: Queue, key: str, descending: bool, offset: int,
                   limit: int) -> tuple[list[str], int]:
    """A page of one zset in score order, ties broken by creation then id
    (as a sort by that field reads), and its size. Only the members whose
    score equals a page edge's are read beyond the page."""
    r = q.redis
    total = r.zcard(key)
    stop = offset + limit - 1
    page = r.zrevrange(key, offset, stop, withscores=True) if descending else \
        r.zrange(key, offset, stop, withscores=True)
    if not page:
        return [], total
    lo, hi = sorted((page[0][1], page[-1][1]))
    # every member scored within the page's edges, and how many come before them
    span = r.zrangebyscore(key, lo, hi, withscores=True)
    before = r.zcount(key, f"({hi}", "+inf") if descending else r.zcount(key, "-inf", f"({lo}")
    created = scores(r, q.qkeys.all, [tid for tid, _ in span])
    rows = sorted(((s, c or 0.0, tid) for (tid, s), c in zip(span, created)), reverse=descending)
    return [tid for _, _, tid in rows[offset - before:offset - before + limit]], total


def count_walk(q: Queue, index: str, tag: str | None, statuses: Sequence[str], worker: str | None,
               tags: Sequence[str], newest_first: bool, offset: int, limit: int) -> tuple[list[str], int]:
    """A page and the exact total of a filter no index counts: examines the
    whole candidate index (at most WALK_CAP entries)."""
    w = walk_index(q.redis, q.qkeys, index, tag, newest_first, offset, limit, True, statuses,
                   worker, tags, max_examined=WALK_CAP)
    if w.capped:
        raise too_large("filter_too_large", "this filter", q.redis.zcard(
            q.qkeys.tag(tag) if index == "tag" else q.qkeys.all), WALK_CAP,
            "filter by one status, tag, batch or type alone, which reads an index")
    return w.ids, w.matched


def matching_all(q: Queue, index: str, statuses: Sequence[str], worker: str | None,
                 tags: Sequence[str]) -> list[str]:
    """Every task of one status zset that passes the other filters (at most WALK_CAP examined)."""
    w = walk_index(q.redis, q.qkeys, index, None, True, 0, SORT_CAP + 1, True, statuses, worker,
                   tags, max_examined=WALK_CAP)
    if w.capped or len(w.ids) > SORT_CAP:
        raise too_large("filter_too_large", "this filter", max(w.examined, len(w.ids)), SORT_CAP,
                        "filter by one status, tag, batch or type alone, which reads an index")
    return w.ids


def creation_page(q: Queue, statuses: Sequence[str] = (), tags: Sequence[str] = (),
                  worker: str | None = None, newest_first: bool = True, offset: int = 0,
                  limit: int = 20) -> tuple[list[str], int]:
    """One page of a queue's tasks in creation order (ties by id) and the
    exact total, for any mix of statuses (any of them), tags (all of them)
    and a holder: every dialect's filtered listing. No filter, one status
    set or one tag alone page an index; a status set within one tag reads
    the smaller side; the rest walk the smallest candidate index."""
    statuses, tags = list(statuses), list(tags)
    if not (tags or worker):
        if not statuses:
            return q.list_ids(offset=offset, limit=limit, newest_first=newest_first), q.count()
        return by_creation(q, statuses, newest_first, offset, limit)
    if len(tags) == 1 and not worker:
        tag = tags[0]
        if not statuses:
            return q.list_ids(tag=tag, offset=offset, limit=limit, newest_first=newest_first), q.count(tag=tag)
        in_status = cards(q.redis, [q.qkeys.status_index(s) for s in statuses])
        if in_status <= DIRECT_MAX or in_status <= min(SORT_CAP, q.count(tag=tag)):
            ids = members(q.redis, [q.qkeys.status_index(s) for s in statuses])
            ordered = in_creation_order(q, ids, newest_first, key=q.qkeys.tag(tag))
            return ordered[offset:offset + limit], len(ordered)
    if tags:
        if len(tags) > 1:
            tags.sort(key=lambda t: q.count(tag=t))  # walk the smallest tag, check the others
        return count_walk(q, "tag", tags[0], statuses, worker, tags[1:], newest_first, offset, limit)
    return _held_by(q, statuses, worker, newest_first, offset, limit)


def _held_by(q: Queue, statuses: list[str], worker: str, newest_first: bool, offset: int,
             limit: int) -> tuple[list[str], int]:
    """A holder's tasks (maybe within statuses): walk the status zsets when
    they are smaller than the queue, else the queue in creation order."""
    in_status = cards(q.redis, [q.qkeys.status_index(s) for s in statuses])
    if not statuses or in_status >= q.count():
        return count_walk(q, "all", None, statuses, worker, (), newest_first, offset, limit)
    ids = [tid for s in statuses for tid in matching_all(q, s, (), worker, ())]
    ordered = in_creation_order(q, ids, newest_first)
    return ordered[offset:offset + limit], len(ordered)
