"""Tasks for HTTP views: look up by id in any queue, list with filters,
totals and sorting, and the transitions, all through taskq.Queue."""

from __future__ import annotations

import json
from typing import Any, Iterable

from taskq import InvalidState, Lease, Queue, Task, TaskNotFound
from taskq.keys import Keys, queue_of

SORT_FIELDS = {
    "created_at": "created", "updated_at": "updated", "priority": "priority",
    "scheduled_at": "scheduled", "started_at": "started", "completed_at": "finished",
    "status": "status", "name": "meta",
}
"""Sort key -> the task hash field it reads."""


class NeedsLeaseToken(Exception):
    """A fenced write without the lease token, by a caller who may not act for the holder."""


def _sort_value(field: str, raw: str | None) -> Any:
    if raw is None:
        return None
    if field == "status":
        return raw
    if field == "meta":
        try:
            name = json.loads(raw).get("name")
        except (ValueError, AttributeError):
            return None
        return str(name) if name is not None else None
    return float(raw)


class TaskService:
    def __init__(self, redis, keys: Keys):
        self.redis, self.keys = redis, keys

    def queue(self, name: str) -> Queue:
        return Queue(name, redis=self.redis, prefix=self.keys.prefix)

    def _queue_of(self, task_id: str) -> Queue:
        try:
            return self.queue(queue_of(task_id))
        except ValueError:
            raise TaskNotFound(f"task {task_id} not found") from None

    def get(self, task_id: str) -> Task:
        task = self._queue_of(task_id).get(task_id)
        if task is None:
            raise TaskNotFound(f"task {task_id} not found")
        return task

    def create(self, queue: str, **options: Any) -> Task:
        return self.queue(queue).enqueue_call(None, **options)

    def update(self, task_id: str, **changes: Any) -> Task:
        self._queue_of(task_id).update(task_id, **changes)
        return self.get(task_id)

    def delete(self, task_id: str, force: bool = False) -> None:
        self._queue_of(task_id).delete(task_id, force=force)

    def cancel(self, task_id: str, reason: str = "", mode: str = "request") -> tuple[str, Task]:
        """Queue.cancel: mode 'request' asks a running task's holder to stop,
        'force' ends it cancelled now (its lease revoked)."""
        outcome = self._queue_of(task_id).cancel(task_id, reason, mode)
        return outcome, self.get(task_id)

    def retry(self, task_id: str) -> Task:
        self._queue_of(task_id).retry(task_id)
        return self.get(task_id)

    def logs(self, task_id: str, level: str | None = None, offset: int = 0,
             limit: int = 100) -> tuple[list[dict], int]:
        """Log lines oldest first, filtered by level, then paged."""
        q = self._queue_of(task_id)
        self.get(task_id)
        lines = q.logs(task_id, 0, 100_000)
        if level:
            lines = [x for x in lines if x.get("level") == level]
        return lines[offset:offset + limit], len(lines)

    def checkpoint(self, task_id: str, data: Any, token: str | None = None,
                   act_for_holder: bool = False) -> Task:
        """Store a running task's checkpoint, fenced by its lease token. Without
        the token only a caller allowed to act for the holder may write, and
        the engine still checks the holder's token at the moment of writing."""
        task = self.get(task_id)
        if task.status != "running":
            raise InvalidState(f"task {task_id} is {task.status}", status=task.status)
        if token is None:
            if not act_for_holder:
                raise NeedsLeaseToken(task_id)
            token = task.raw.get("token", "")
        Lease(task, token, self.redis, self.keys).checkpoint(data)
        return self.get(task_id)

    # -- listing ------------------------------------------------------------
    def search(self, queue: str, statuses: Iterable[str] | None = None, tag: str | None = None,
               sort: str = "created_at", descending: bool = True, offset: int = 0,
               limit: int = 20) -> tuple[list[Task], int]:
        """One page of a queue's tasks and the total matching. Sorting by
        creation without filters pages in Redis; anything else reads the sort
        field of every matching task (cost grows with the matches)."""
        q = self.queue(queue)
        statuses = list(statuses or [])
        if not statuses and not tag and sort == "created_at":
            ids = q.list_ids(offset=offset, limit=limit, newest_first=descending) if limit else []
            return q.get_many(ids), q.count()
        ids = self._candidates(q, statuses, tag)
        field = SORT_FIELDS[sort]
        pipe = self.redis.pipeline(transaction=False)
        for tid in ids:
            pipe.hmget(q.qkeys.task(tid), [field, "status", "created"])
        rows = []
        for tid, (value, status, created) in zip(ids, pipe.execute()):
            if status is None or (tag and statuses and status not in statuses):
                continue
            rows.append((_sort_value(field, value), float(created or 0), tid))
        present = sorted((r for r in rows if r[0] is not None), reverse=descending)
        ordered = present + sorted((r for r in rows if r[0] is None), reverse=descending)
        page = [tid for _, _, tid in ordered[offset:offset + limit]]
        return q.get_many(page), len(ordered)

    def _candidates(self, q: Queue, statuses: list[str], tag: str | None) -> list[str]:
        if tag:
            return self.redis.zrange(q.qkeys.tag(tag), 0, -1)
        if not statuses:
            return self.redis.zrange(q.qkeys.all, 0, -1)
        pipe = self.redis.pipeline(transaction=False)
        for s in statuses:
            pipe.zrange(q.qkeys.status_index(s), 0, -1)
        return [tid for ids in pipe.execute() for tid in ids]

    def count(self, queue: str, statuses: Iterable[str]) -> int:
        q = self.queue(queue)
        pipe = self.redis.pipeline(transaction=False)
        for s in statuses:
            pipe.zcard(q.qkeys.status_index(s))
        return sum(pipe.execute())

    def by_worker(self, worker_id: str, queues: Iterable[str], current: Iterable[str],
                  statuses: Iterable[str] | None = None, scan: int = 10_000) -> list[Task]:
        """Tasks a worker holds now (``current``) or held when they ended
        (the newest ``scan`` finished tasks per status and queue are searched)."""
        statuses = set(statuses or ("running", "completed", "failed", "cancelled"))
        out: list[Task] = []
        if "running" in statuses:
            for tid in current:
                try:
                    t = self.get(tid)
                except TaskNotFound:
                    continue
                if t.status == "running":
                    out.append(t)
        for name in queues:
            q = self.queue(name)
            for status in statuses & {"completed", "failed", "cancelled"}:
                ids = self.redis.zrevrange(q.qkeys.status_index(status), 0, scan - 1)
                pipe = self.redis.pipeline(transaction=False)
                for tid in ids:
                    pipe.hget(q.qkeys.task(tid), "worker")
                mine = [tid for tid, w in zip(ids, pipe.execute()) if w == worker_id]
                out += q.get_many(mine)
        return out
