"""How a queue or task is named to a caller who may not see project ids.

A TaskDriver project's queue is ``td-<project id>``, and in open login mode
a project id lets anyone act as its agents; so wherever queue names or task
ids reach a caller without ``projects:read`` (metrics, worker views), a
project's queue is shown as ``project:<project name>`` and its task ids are
left out.
"""

from __future__ import annotations

import hashlib

from taskq.keys import TaskDriverKeys, queue_of
from taskq.projects.store import QUEUE_PREFIX, project_of_queue, valid_id

PROJECT_LABEL = "project:"
"""Prefix of a TaskDriver queue's label; no engine queue name holds ':'."""


def queue_labels(redis, keys, names: list[str]) -> dict[str, str]:
    """The label of each queue: its name, or for a project's queue
    ``project:<project name>`` (``project:unknown-<8 hex of sha256(id)>``
    when the project record is gone). One round trip."""
    projects = {n: project_of_queue(n) for n in names}
    projects = {n: pid for n, pid in projects.items() if pid is not None and valid_id(pid)}
    tk = TaskDriverKeys(keys.prefix)
    pipe = redis.pipeline(transaction=False)
    for pid in projects.values():
        pipe.hget(tk.project(pid), "name")
    found = dict(zip(projects, pipe.execute() if projects else []))
    out = {}
    for n in names:
        if n not in projects:
            out[n] = n
        elif found.get(n):
            out[n] = PROJECT_LABEL + str(found[n])
        else:
            out[n] = PROJECT_LABEL + "unknown-" + hashlib.sha256(projects[n].encode()).hexdigest()[:8]
    return out


def is_project_task(task_id: str) -> bool:
    """Whether a task id names a TaskDriver project (and so its id)."""
    try:
        return project_of_queue(queue_of(task_id)) is not None
    except ValueError:
        return False


class LabelService:
    """Queue labels and project ids on the app's client, for the dashboard
    and the dialects (which hold no Redis client of their own)."""

    def __init__(self, redis, keys):
        self.redis, self.keys = redis, keys

    def of(self, names: list[str]) -> dict[str, str]:
        """:func:`queue_labels` of ``names``."""
        return queue_labels(self.redis, self.keys, names)

    def project_ids(self, candidates: set[str]) -> set[str]:
        """Which of ``candidates`` (lowercase UUIDs) are project ids: a project
        on record, or the queue of a deleted one still known. One round trip."""
        if not candidates:
            return set()
        ordered = sorted(candidates)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zmscore(TaskDriverKeys(self.keys.prefix).projects, ordered)
        pipe.smismember(self.keys.queues, [QUEUE_PREFIX + c for c in ordered])
        scores, queued = pipe.execute()
        return {c for c, s, q in zip(ordered, scores, queued) if s is not None or q in (1, True, "1")}
