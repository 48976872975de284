"""Queue.update: one script call changes a task that has not started, and
re-places it (queued / delayed / blocked) by its new values."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from taskq import CyclicDependencyError, DependencyNotFound, InvalidState, TaskqValueError


def test_priority_change_reorders_the_ready_queue(q):
    a = q.enqueue("m:f", priority=1)
    b = q.enqueue("m:f", priority=1)
    assert q.update(b.id, priority=9) == "queued"
    assert q.list_ids("queued") == [b.id, a.id]
    assert q.get(b.id).priority == 9


def test_due_time_moves_between_queued_and_delayed(q):
    t = q.enqueue("m:f")
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert q.update(t.id, scheduled_at=later) == "delayed"
    got = q.get(t.id)
    assert got.status == "delayed" and abs((got.scheduled_at - later).total_seconds()) < 0.01
    assert q.list_ids("delayed") == [t.id]
    assert q.update(t.id, scheduled_at=None) == "queued"
    assert q.get(t.id).scheduled_at is None and q.list_ids("queued") == [t.id]


def test_scalar_fields_tags_and_meta(q):
    t = q.enqueue("m:f", tags=["a", "b"], meta={"name": "x", "keep": 1}, timeout=10)
    q.update(t.id, max_retries=7, timeout=None, tags=["b", "c"], meta={"name": "y", "keep": None})
    got = q.get(t.id)
    assert (got.max_retries, got.timeout, got.tags, got.meta) == (7, None, ["b", "c"], {"name": "y"})
    assert q.list_ids(tag="a") == [] and q.list_ids(tag="c") == [t.id]
    assert got.updated_at >= got.created_at


def test_dependencies_block_release_and_refuse_cycles(q):
    a = q.enqueue("m:f")
    b = q.enqueue("m:f")
    assert q.update(b.id, depends_on=[a.id]) == "blocked"
    assert q.list_ids("blocked") == [b.id]
    with pytest.raises(CyclicDependencyError):
        q.update(a.id, depends_on=[b.id])
    with pytest.raises(CyclicDependencyError):
        q.update(a.id, depends_on=[a.id])
    with pytest.raises(DependencyNotFound):
        q.update(a.id, depends_on=["default:nope"])
    assert q.update(b.id, depends_on=[]) == "queued"
    # the old link is gone: completing a does not touch b
    lease = q.claim(n=2)
    assert {x.id for x in lease} == {a.id, b.id}


def test_dependency_in_another_queue_is_linked(make_queue):
    q, other = make_queue("default"), make_queue("other")
    dep = other.enqueue("m:f")
    t = q.enqueue("m:f")
    assert q.update(t.id, depends_on=[dep.id]) == "blocked"
    [lease] = other.claim()
    lease.complete("ok")
    assert q.get(t.id).status == "queued"


def test_failed_dependency_is_refused(q):
    a = q.enqueue("m:f")
    q.cancel(a.id)
    b = q.enqueue("m:f")
    with pytest.raises(TaskqValueError):
        q.update(b.id, depends_on=[a.id])


def test_running_and_finished_tasks_cannot_change(q):
    t = q.enqueue("m:f")
    [lease] = q.claim()
    with pytest.raises(InvalidState):
        q.update(t.id, priority=3)
    lease.complete(None)
    with pytest.raises(InvalidState):
        q.update(t.id, priority=3)


def test_bad_values_are_refused_before_redis(q):
    t = q.enqueue("m:f")
    for bad in ({"priority": "x"}, {"max_retries": -1}, {"timeout": 0}, {"tags": "a"},
                {"meta": []}, {"scheduled_at": "soon"}, {"func": "x"}):
        with pytest.raises(TaskqValueError):
            q.update(t.id, **bad)


def test_blocked_task_gets_a_due_time_and_waits_for_both(q):
    a = q.enqueue("m:f")
    b = q.enqueue("m:f", depends_on=[a.id])
    q.update(b.id, scheduled_at=time.time() + 3600)
    assert q.get(b.id).status == "blocked"
    [lease] = q.claim()
    lease.complete(None)
    assert q.get(b.id).status == "delayed"
