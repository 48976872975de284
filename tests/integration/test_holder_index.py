"""Each holder's leases in its own index (held_prefix + holder, score =
lease expiry), kept by the scripts that start, renew and end leases, so a
TaskDriver agent's next-task reads its own leases and nobody else's."""

from __future__ import annotations

import time

import pytest
import redis

from api.services.tasks import TaskService
from api.services.agents import AgentService
from taskq.projects.store import ProjectStore


def held(q, holder):
    return q.redis.zrange(q.qkeys.held(holder), 0, -1, withscores=True)


def test_claim_and_heartbeat_write_the_holder_index(q):
    a, b = q.enqueue("app:job"), q.enqueue("app:job")
    la, lb = q.claim(2, lease=30, worker="w1")
    index = dict(held(q, "w1"))
    assert set(index) == {a.id, b.id}
    assert index[a.id] == q.redis.zscore(q.qkeys.running, a.id)
    before = index[a.id]
    time.sleep(0.01)
    la.heartbeat(lease=60)
    assert dict(held(q, "w1"))[a.id] == q.redis.zscore(q.qkeys.running, a.id) > before
    la.extend(100)
    assert dict(held(q, "w1"))[a.id] == q.redis.zscore(q.qkeys.running, a.id)
    assert held(q, "w2") == []


def _end(q, how, lease):
    if how == "complete":
        lease.complete()
    elif how == "fail":
        assert lease.fail("boom", retryable=False) == "failed"
    elif how == "retry":
        assert lease.fail("boom") == "retrying"
    elif how == "release":
        lease.release()
    elif how == "force_cancel":
        q.cancel(lease.id, mode="force")
    elif how == "acknowledged_cancel":
        q.cancel(lease.id)
        lease.cancelled()
    elif how == "delete":
        q.delete(lease.id, force=True)
    elif how == "expire":
        time.sleep(0.15)
        assert q.reap()["requeued"] == 1


@pytest.mark.parametrize("how", ["complete", "fail", "retry", "release", "force_cancel",
                                 "acknowledged_cancel", "delete", "expire"])
def test_every_end_of_a_lease_leaves_the_holder_index(q, how):
    q.enqueue("app:job", max_retries=2)
    keep = q.enqueue("app:job")
    first, other = q.claim(2, lease=0.1 if how == "expire" else 30, worker="w1")
    if how == "expire":
        other.heartbeat(lease=30)
    _end(q, how, first)
    assert [tid for tid, _ in held(q, "w1")] == [keep.id]


# -- TaskDriver's next-task --------------------------------------------------------

class CountingCommands:
    """Counts the Redis commands a block of code sends (pipelined ones too)."""

    def __init__(self, monkeypatch):
        self.n = 0
        direct, queued = redis.Redis.execute_command, redis.client.Pipeline.pipeline_execute_command

        def count_direct(client, *args, **kw):
            self.n += 1
            return direct(client, *args, **kw)

        def count_queued(pipe, *args, **kw):
            self.n += 1
            return queued(pipe, *args, **kw)

        monkeypatch.setattr(redis.Redis, "execute_command", count_direct)
        monkeypatch.setattr(redis.client.Pipeline, "pipeline_execute_command", count_queued)


def test_next_task_reads_only_the_calling_agents_leases(r, keys, monkeypatch):
    store = ProjectStore(r, keys.prefix)
    project = store.create("busy-project")
    q = store.queue(project.id)
    q.enqueue_many({"func": None, "meta": {"n": i}} for i in range(10_001))
    for i in range(100):  # 10,000 leases, held by 100 other agents
        assert len(q.claim(100, lease=600, worker=f"other-{i}")) == 100
    tasks = TaskService(r, keys)
    agents = AgentService(tasks, ProjectStore(r, keys.prefix))

    counter = CountingCommands(monkeypatch)
    task = agents.next_task(project, "me")
    first = counter.n
    again = agents.next_task(project, "me")  # a reconnect: the task it holds
    second = counter.n - first
    monkeypatch.undo()

    assert task is not None and again.id == task.id
    # the lock, the index, the claim, the task: a handful, not one per lease
    assert first < 30 and second < 30, (first, second)
    assert q.redis.zrange(q.qkeys.held("me"), 0, -1) == [task.id]

    # the agent ends the task: its index is empty and next-task finds nothing else
    agents.complete(task.id, "me", {"ok": True}, None, project.id)
    assert q.redis.zrange(q.qkeys.held("me"), 0, -1) == []
    assert agents.next_task(project, "me") is None
