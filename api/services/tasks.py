"""Tasks for HTTP views: look up by id in any queue, list with filters,
totals and sorting, and the transitions, all through taskq.Queue."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any, Iterable

from taskq import InvalidState, Lease, Queue, Task, TaskNotFound
from taskq.errors import TaskExpired
from taskq.keys import TERMINAL_STATUSES, Keys, queue_of
from taskq.monitoring.task_events import timeline
from taskq.paging import walk_index

from . import listing

SORT_FIELDS = {
    "created_at": "created", "updated_at": "updated", "priority": "priority",
    "scheduled_at": "scheduled", "started_at": "started", "completed_at": "finished",
    "status": "status", "name": "meta",
}
"""Sort key -> the task hash field it reads."""
QUEUE_CACHE = 1024
"""Queue objects a TaskService keeps (ids in URLs name queues: keep it bounded)."""
LOG_CHUNK = 500
LOG_SCAN_CAP = 10_000
"""Log lines a level filter reads at most (the engine keeps 1,000 per task)."""


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
        self._queues: OrderedDict[str, Queue] = OrderedDict()
        self._lock = threading.Lock()

    def queue(self, name: str) -> Queue:
        """The Queue of this name, kept (at most QUEUE_CACHE of them, least
        recently used dropped): a kept Queue knows it is registered, so its
        enqueues send no SADD to the queue registry after the first."""
        with self._lock:
            q = self._queues.get(name)
            if q is None:
                q = self._queues[name] = Queue(name, redis=self.redis, prefix=self.keys.prefix)
                if len(self._queues) > QUEUE_CACHE:
                    self._queues.popitem(last=False)
            else:
                self._queues.move_to_end(name)
            return q

    def _queue_of(self, task_id: str) -> Queue:
        try:
            return self.queue(queue_of(task_id))
        except ValueError:
            raise TaskNotFound(f"task {task_id} not found") from None

    def get(self, task_id: str) -> Task:
        q = self._queue_of(task_id)
        task = q.get(task_id)
        if task is None:
            gone = q.removed(task_id)
            if gone:
                raise TaskExpired(f"task {task_id} {gone['status']} and was removed by retention",
                                  gone["status"], gone["finished"])
            raise TaskNotFound(f"task {task_id} not found")
        return task

    def create(self, queue: str, **options: Any) -> Task:
        """The task as written (one round trip; nothing is read back)."""
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
        """Log lines oldest first, paged with LRANGE; total is every line.
        With a level, the list (which the engine trims to its newest
        LOG_MAX_LINES) is scanned oldest first, at most LOG_SCAN_CAP lines,
        and total counts the matching lines among them."""
        q = self._queue_of(task_id)
        if not self.redis.exists(q.qkeys.task(task_id)):
            raise TaskNotFound(f"task {task_id} not found")
        if not level:
            return q.logs(task_id, offset, limit), q.log_count(task_id)
        page, matched = [], 0
        for start in range(0, LOG_SCAN_CAP, LOG_CHUNK):
            lines = q.logs(task_id, start, LOG_CHUNK)
            for line in lines:
                if line.get("level") == level:
                    if offset <= matched < offset + limit:
                        page.append(line)
                    matched += 1
            if len(lines) < LOG_CHUNK:
                break
        return page, matched

    def checkpoint(self, task_id: str, data: Any, token: str | None = None,
                   act_for_holder: bool = False, task: Task | None = None) -> Task:
        """Store a running task's checkpoint, fenced by its lease token. Without
        the token only a caller allowed to act for the holder may write, and
        the engine still checks the holder's token at the moment of writing.
        ``task``: the task as the caller just read it (saves reading it again)."""
        task = task if task is not None and task.id == task_id else self.get(task_id)
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
        """One page of a queue's tasks and the total matching. Creation order
        (with any filter) and end time within one finished status page in
        Redis (api.services.listing); other sorts read and sort every match,
        at most listing.SORT_CAP of them (else 422 sort_too_large)."""
        q = self.queue(queue)
        statuses = list(statuses or [])
        if not limit:
            return [], self._candidate_count(q, statuses, tag)
        if sort == "created_at":
            ids, total = listing.creation_page(q, statuses, [tag] if tag else [], None, descending,
                                               offset, limit)
        elif sort == "completed_at" and len(statuses) == 1 and not tag \
                and statuses[0] in TERMINAL_STATUSES:
            ids, total = listing.by_index_score(q, q.qkeys.status_index(statuses[0]), descending,
                                                offset, limit)
        else:
            ids, total = self._sorted_in_python(q, statuses, tag, sort, descending, offset, limit)
        return q.get_many(ids), total

    def _candidate_count(self, q: Queue, statuses: list[str], tag: str | None) -> int:
        if tag:
            return q.count(tag=tag)
        if statuses:
            return listing.cards(self.redis, [q.qkeys.status_index(s) for s in statuses])
        return q.count()

    def _sorted_in_python(self, q: Queue, statuses: list[str], tag: str | None, sort: str,
                          descending: bool, offset: int, limit: int) -> tuple[list[str], int]:
        """No index keeps this order: read the sort field of every candidate."""
        n = self._candidate_count(q, statuses, tag)
        if n > listing.SORT_CAP:
            raise listing.too_large("sort_too_large", f"sorting by {sort}", n, listing.SORT_CAP,
                                    "sort by created_at (or by completed_at within one finished "
                                    "status), or narrow the filter")
        ids = self._candidates(q, statuses, tag)
        field = SORT_FIELDS[sort]
        pipe = self.redis.pipeline(transaction=False)
        for tid in ids:
            pipe.hmget(q.qkeys.task(tid), [field, "status", "created"])
        rows = []
        for tid, (value, status, created) in zip(ids, pipe.execute() if ids else []):
            if status is None or (tag and statuses and status not in statuses):
                continue
            rows.append((_sort_value(field, value), float(created or 0), tid))
        present = sorted((r for r in rows if r[0] is not None), reverse=descending)
        ordered = present + sorted((r for r in rows if r[0] is None), reverse=descending)
        return [tid for _, _, tid in ordered[offset:offset + limit]], len(ordered)

    def _candidates(self, q: Queue, statuses: list[str], tag: str | None) -> list[str]:
        if tag:
            return self.redis.zrange(q.qkeys.tag(tag), 0, -1)
        if not statuses:
            return self.redis.zrange(q.qkeys.all, 0, -1)
        return listing.members(self.redis, [q.qkeys.status_index(s) for s in statuses])

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
            for status in sorted(statuses & {"completed", "failed", "cancelled"}):
                w = walk_index(self.redis, q.qkeys, status, worker=worker_id, take=scan,
                               count_all=True, max_examined=scan)
                out += q.get_many(w.ids)
        return out

    def failed_ids(self, queue: str, limit: int) -> list[str]:
        """The ids of up to ``limit`` failed tasks of ``queue``, oldest failure first."""
        return self.redis.zrange(self.queue(queue).qkeys.failed, 0, limit - 1)

    def timeline(self, task: Task):
        """The task's events from its queue's event stream, oldest first
        (taskq.monitoring.task_events.timeline)."""
        return timeline(self.redis, self.keys, task)
