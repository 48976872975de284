"""Producing tasks: options, ordering, delays, dedupe, bad input."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

import taskq
from taskq import CyclicDependencyError, DependencyNotFound, TaskExists, TaskqValueError


def test_enqueue_stores_function_arguments_and_options(q):
    t = q.enqueue("myapp.tasks:send_email", "a", to="x@example.com", priority=8,
                  tags=["mail"], max_retries=5, timeout=30, meta={"name": "welcome"})
    got = q.get(t.id)
    assert got.status == "queued" and t.status == "queued"
    assert got.func == "myapp.tasks:send_email"
    assert got.args == ["a"] and got.kwargs == {"to": "x@example.com"}
    assert (got.priority, got.max_retries, got.timeout) == (8, 5, 30.0)
    assert got.tags == ["mail"] and got.meta == {"name": "welcome"}
    assert got.created_at == t.created_at and got.created_at is not None
    assert got.queue == "default" and taskq.get_task(t.id, redis=q.redis, prefix=q.keys.prefix) == got


def test_callable_is_stored_by_importable_name(q):
    t = q.enqueue(time.sleep, 0)
    assert t.func == "time:sleep"
    with pytest.raises(TaskqValueError):
        q.enqueue(lambda: None)


def test_higher_priority_first_fifo_within_a_priority(q):
    low = [q.enqueue("f", priority=1, task_id=f"low{i}").id for i in range(3)]
    high = [q.enqueue("f", priority=9, task_id=f"high{i}").id for i in range(3)]
    neg = q.enqueue("f", priority=-5, task_id="neg").id
    mid = [q.enqueue("f", task_id=f"mid{i}").id for i in range(3)]
    assert q.list_ids("queued", limit=100) == high + low + mid + [neg]
    claimed = [lease.id for lease in q.claim(100)]
    assert claimed == high + low + mid + [neg]


def test_delay_and_scheduled_at_hold_tasks_until_due(q):
    d = q.enqueue("f", delay=0.3)
    s = q.enqueue("f", scheduled_at=datetime.now(timezone.utc) + timedelta(seconds=0.3))
    past = q.enqueue("f", scheduled_at=time.time() - 10)
    assert (d.status, s.status, past.status) == ("delayed", "delayed", "queued")
    assert [lease.id for lease in q.claim(10)] == [past.id]
    time.sleep(0.4)
    assert sorted(lease.id for lease in q.claim(10)) == sorted([d.id, s.id])


def test_scheduler_tick_promotes_due_tasks(q):
    t = q.enqueue("f", delay=0.05)
    time.sleep(0.1)
    assert q.reap()["promoted"] == 1
    assert q.get(t.id).status == "queued"


def test_dedupe_key_returns_the_existing_task_within_its_window(q):
    a = q.enqueue("f", dedupe_key="report:42", dedupe_window=0.3)
    b = q.enqueue("f", dedupe_key="report:42", dedupe_window=0.3)
    assert b.id == a.id and q.count() == 1
    time.sleep(0.35)
    c = q.enqueue("f", dedupe_key="report:42", dedupe_window=0.3)
    assert c.id != a.id and q.count() == 2


def test_dedupe_key_without_window_lasts_until_the_task_ends(q):
    a = q.enqueue("f", dedupe_key="sync")
    assert q.enqueue("f", dedupe_key="sync").id == a.id
    q.claim(1)[0].complete()
    b = q.enqueue("f", dedupe_key="sync")
    assert b.id != a.id


def test_enqueue_many_in_one_call_with_batch_dependencies(q):
    tasks = q.enqueue_many([
        {"func": "f", "task_id": "child", "depends_on": ["default:parent"]},
        {"func": "f", "task_id": "parent", "args": [1]},
        {"func": "f", "tags": ["bulk"]},
    ])
    assert [t.status for t in tasks] == ["blocked", "queued", "queued"]
    assert tasks[0].id == "default:child"
    assert q.count() == 3 and q.count(tag="bulk") == 1


def test_bulk_enqueue_is_all_or_nothing_on_bad_input(q):
    with pytest.raises(TaskqValueError):
        q.enqueue_many([{"func": "f"}, {"func": "f", "priority": 5000}])
    with pytest.raises(DependencyNotFound):
        q.enqueue_many([{"func": "f"}, {"func": "f", "depends_on": ["default:nope"]}])
    assert q.count() == 0


@pytest.mark.parametrize("options", [
    {"priority": 1001}, {"priority": -1001}, {"priority": 2.5}, {"priority": True},
    {"delay": -1}, {"delay": float("nan")}, {"backoff": "sometimes"}, {"max_retries": -1},
    {"timeout": 0}, {"tags": "not-a-list"}, {"tags": [""]}, {"dedupe_key": ""},
    {"concurrency_key": "k", "concurrency_limit": 0}, {"dependency_policy": "maybe"},
    {"depends_on": ["not an id"]}, {"scheduled_at": "tomorrow"}, {"lease": 0},
    {"delay": 1, "scheduled_at": 5}, {"task_id": "other:1"}, {"meta": []},
])
def test_bad_options_are_refused_before_redis(q, options):
    with pytest.raises(TaskqValueError):
        q.enqueue("f", **options)
    assert q.count() == 0


def test_unknown_option_and_unserializable_arguments(q):
    with pytest.raises(TaskqValueError):
        q.enqueue_call("f", priorty=1)
    with pytest.raises(TaskqValueError):
        q.enqueue("f", object())


def test_cyclic_and_self_dependencies_are_refused(q):
    with pytest.raises(CyclicDependencyError):
        q.enqueue("f", task_id="me", depends_on=["default:me"])
    with pytest.raises(CyclicDependencyError):
        q.enqueue_many([
            {"func": "f", "task_id": "a", "depends_on": ["default:c"]},
            {"func": "f", "task_id": "b", "depends_on": ["default:a"]},
            {"func": "f", "task_id": "c", "depends_on": ["default:b"]},
        ])
    assert q.count() == 0


def test_unknown_dependency_and_duplicate_id(q, make_queue):
    with pytest.raises(DependencyNotFound):
        q.enqueue("f", depends_on=["default:missing"])
    with pytest.raises(DependencyNotFound):
        q.enqueue("f", depends_on=["elsewhere:missing"])
    q.enqueue("f", task_id="fixed")
    with pytest.raises(TaskExists):
        q.enqueue("f", task_id="fixed")


def test_bad_queue_names(r, prefix):
    for name in ["", "a b", "has{brace}", "x:y", "a" * 129]:
        with pytest.raises(TaskqValueError):
            taskq.Queue(name, redis=r, prefix=prefix)
    taskq.Queue("any-new.name_1", redis=r, prefix=prefix)  # undeclared queues are fine


def test_listing_by_status_and_tag_with_paging(q):
    ids = [q.enqueue("f", tags=["t"] if i % 2 else []).id for i in range(7)]
    assert q.list_ids(limit=3) == ids[::-1][:3]
    assert q.list_ids(offset=3, limit=3) == ids[::-1][3:6]
    assert q.list_ids(newest_first=False, limit=100) == ids
    assert [t.id for t in q.list(tag="t", limit=100)] == [ids[5], ids[3], ids[1]]
    assert q.count(tag="t") == 3 and q.count("queued") == 7
    with pytest.raises(TaskqValueError):
        q.list(status="sleeping")
    with pytest.raises(TaskqValueError):
        q.list(limit=0)


def test_task_decorator_enqueues_by_name(make_queue):
    q = make_queue("mail")

    @taskq.task(queue=q, max_retries=7)
    def send_email(to):
        return f"sent to {to}"

    assert send_email("me") == "sent to me"
    t = send_email.enqueue(to="x", priority=3)
    got = q.get(t.id)
    assert got.func.endswith(":test_task_decorator_enqueues_by_name.<locals>.send_email")
    assert got.kwargs == {"to": "x"} and got.max_retries == 7 and got.priority == 3
    assert taskq.resolve(got.func) is send_email.fn
    assert taskq.resolve("os.path:join") is __import__("os").path.join


def test_delete_many_deletes_in_one_call_skips_the_gone_and_raises_a_refusal_after(q):
    """Queue.delete_many: one round trip for many ids; an id already gone is
    skipped (or TaskNotFound with missing_ok=False); a running task without
    force is refused (InvalidState) once the others are deleted."""
    from taskq import InvalidState, TaskNotFound

    ids = [q.enqueue("app:job").id for _ in range(3)]
    assert q.delete_many(ids[:2] + [f"{q.name}:gone"]) == 2
    assert q.count() == 1
    with pytest.raises(TaskNotFound):
        q.delete_many([f"{q.name}:gone"], missing_ok=False)
    (lease,) = q.claim()
    other = q.enqueue("app:job").id
    with pytest.raises(InvalidState):
        q.delete_many([lease.task.id, other])
    assert q.get(other) is None and q.get(lease.task.id).status == "running"
    assert q.delete_many([lease.task.id], force=True) == 1 and q.count() == 0
