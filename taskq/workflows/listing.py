"""Listing workflows from their indexes (indexes.py), not by reading them all.

Every workflow sits in the ``all`` index of each of its scopes and in the
index of its status (pending, in_progress, complete, error, cancelled),
kept by the status follow-ups (taskq.workflows.status). A listing, with or
without a status filter, is one ZREVRANGE of one zset (offset, limit) and
its ZCARD, then the page's workflows (their records in one round trip,
their steps in another): O(page) whatever the number of workflows.
"""

from __future__ import annotations

from ..connection import as_taskq_client
from ..keys import DEFAULT_PREFIX, WorkflowKeys
from ..options import InvalidField
from . import indexes
from .engine import get_many
from .states import WORKFLOW_STATUSES


def list_workflows(redis, *, namespace: str | None = None, name: str | None = None,
                   version: str | None = None, status: str | None = None,
                   offset: int = 0, limit: int = 25, prefix: str | None = None) -> tuple[list[dict], int]:
    """Workflows newest first matching the filters, and how many match."""
    redis = as_taskq_client(redis)
    if status is not None and status not in WORKFLOW_STATUSES:
        raise InvalidField("status", f"must be one of {', '.join(WORKFLOW_STATUSES)}")
    offset, limit = max(0, int(offset)), max(0, int(limit))
    wk = WorkflowKeys(prefix or DEFAULT_PREFIX)
    key = wk.scoped(status or "all", indexes.scope(namespace, name, version))
    return _page(redis, key, offset, limit, prefix)


def count_by_status(redis, prefix: str | None = None) -> dict[str, int]:
    """How many workflows are in each status: one ZCARD each."""
    redis = as_taskq_client(redis)
    wk = WorkflowKeys(prefix or DEFAULT_PREFIX)
    pipe = redis.pipeline(transaction=False)
    for status in WORKFLOW_STATUSES:
        pipe.zcard(wk.scoped(status, "*"))
    return dict(zip(WORKFLOW_STATUSES, pipe.execute()))


def _page(redis, key: str, offset: int, limit: int, prefix: str | None) -> tuple[list[dict], int]:
    if limit == 0:
        return [], redis.zcard(key)
    pipe = redis.pipeline(transaction=False)
    pipe.zrevrange(key, offset, offset + limit - 1)
    pipe.zcard(key)
    ids, total = pipe.execute()
    return get_many(redis, ids, prefix), total  # one pruned meanwhile is left out
