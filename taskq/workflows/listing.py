"""Listing workflows from their indexes (indexes.py), not by reading them all.

- No status filter: one ZREVRANGE of the filter's ``all`` zset (offset,
  limit) and its ZCARD, then the page's workflows: O(page).
- ``complete`` / ``error`` / ``cancelled``: first the open workflows of the
  filter's scope are read (at most OPEN_SCAN_LIMIT, newest first, two
  pipelined round trips) and the finished ones recorded (outcomes, exactly
  once), so a workflow whose last step just ended is listed under its
  outcome without waiting for the sweep; then one range of that outcome's
  zset and its ZCARD. O(page + open workflows in scope, bounded).
- ``pending`` / ``in_progress``: which of the two an open workflow is needs
  its steps, so the same read of the open ones answers; page and total
  count among the newest OPEN_SCAN_LIMIT open workflows of the scope only
  (exact while fewer are open).
"""

from __future__ import annotations

from ..connection import as_taskq_client
from ..keys import DEFAULT_PREFIX, WorkflowKeys
from ..options import InvalidField
from . import indexes
from .engine import WORKFLOW_STATUSES, WorkflowNotFound, get
from .outcomes import observe, record_finished

OPEN_SCAN_LIMIT = 2000
"""Open workflows of a scope a status listing reads, at most."""


def list_workflows(redis, *, namespace: str | None = None, name: str | None = None,
                   version: str | None = None, status: str | None = None,
                   offset: int = 0, limit: int = 25, prefix: str | None = None) -> tuple[list[dict], int]:
    """Workflows newest first matching the filters, and how many match."""
    redis = as_taskq_client(redis)
    if status is not None and status not in WORKFLOW_STATUSES:
        raise InvalidField("status", f"must be one of {', '.join(WORKFLOW_STATUSES)}")
    offset, limit = max(0, int(offset)), max(0, int(limit))
    wk = WorkflowKeys(prefix or DEFAULT_PREFIX)
    scope = indexes.scope(namespace, name, version)
    if status is None:
        return _page(redis, wk.scoped("all", scope), offset, limit, prefix)
    seen = observe(redis, wk, redis.zrevrange(wk.scoped("open", scope), 0, OPEN_SCAN_LIMIT - 1))
    record_finished(redis, wk, seen)
    if status in indexes.FINISHED_STATES:
        return _page(redis, wk.scoped(status, scope), offset, limit, prefix)
    matching = [o.id for o in seen if o.status == status]
    return _read(redis, matching[offset:offset + limit], prefix), len(matching)


def _page(redis, key: str, offset: int, limit: int, prefix: str | None) -> tuple[list[dict], int]:
    if limit == 0:
        return [], redis.zcard(key)
    pipe = redis.pipeline(transaction=False)
    pipe.zrevrange(key, offset, offset + limit - 1)
    pipe.zcard(key)
    ids, total = pipe.execute()
    return _read(redis, ids, prefix), total


def _read(redis, ids: list[str], prefix: str | None) -> list[dict]:
    out = []
    for wid in ids:
        try:
            out.append(get(redis, wid, prefix=prefix))
        except WorkflowNotFound:  # pruned between the range and the read
            continue
    return out
