"""The task lifecycle, checked against a model.

Hypothesis drives random sequences of operations against a real Redis queue
and, side by side, against the small pure-Python model below, which is the
lifecycle in one page:

    enqueue -> queued | blocked (waits on dependencies) | failed (a dependency
               already failed, and the policy is 'fail')
    claim: queued -> running (highest priority first, FIFO within a priority;
           a task whose concurrency key is at its limit is skipped, parked
           until a slot frees; a paused queue leases nothing)
    complete: running -> completed (only with the lease's token; repeating it
              with the same token is a harmless no-op)
    fail: running -> queued (retry budget left and the error is retryable)
                   | failed | cancelled (cancel was requested meanwhile)
    release: running -> queued (the holder gives it back; the attempt does not count)
    heartbeat, checkpoint, log: only by the lease's holder, while it holds it
    cancel: queued | blocked -> cancelled; running -> cancel requested, or
            with mode 'force' cancelled at once (its lease revoked)
    retry: failed | cancelled -> queued, or blocked while dependencies remain
    delete: anything (running only with force) -> gone
    A task's end resolves its dependents: completed releases them; failed or
    cancelled fails them too, unless their policy is 'release'.

After every step the two must agree: each task's status, which status index
holds it (exactly one), the order of the queued index, counts(), the lifetime
counters in stats(), attempts and retries, the parked tasks of each
concurrency key (in order, and never while their key has a free slot nobody
in line will take) and the holder's lease index. A refusal (LeaseLost,
InvalidState, TaskNotFound, TaskExists, DependencyNotFound,
CyclicDependencyError) must happen exactly when the model refuses too, and
then change nothing. Leases are kept after they end, so complete, fail,
release and heartbeat are tried with stale tokens too; task ids are kept
after deletion, so every call is also tried on a task that is gone, and
enqueue may reuse an old id.

Retries use backoff="fixed" with backoff_base=0, so a retried task goes
straight back to queued instead of waiting on the clock; leases are long
(10 minutes), so expiry never happens here (tests/integration/test_races.py
covers it).
"""

from __future__ import annotations

import os
import uuid

import pytest
from example_budget import examples
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, initialize, invariant,
                                 multiple, precondition, rule, run_state_machine_as_test)

from taskq import Queue
from taskq.keys import STATUSES

from queue_model import KEY_LIMITS, LEASE_SECONDS, Model, Refused


# -- the machine ---------------------------------------------------------------

CKEYS = st.sampled_from([None, "k1", "k2"])


def key_options(ckey):
    return {"concurrency_key": ckey, "concurrency_limit": KEY_LIMITS[ckey]} if ckey else {}


class QueueMachine(RuleBasedStateMachine):
    """Random operations on a real queue (its own key prefix per example),
    each checked against the model."""

    tasks = Bundle("tasks")    # ids of every task ever enqueued (deleted ones too)
    leases = Bundle("leases")  # every lease ever handed out (current and stale)

    def __init__(self, client):
        super().__init__()
        self.client = client
        self.prefix = f"tqsm-{uuid.uuid4().hex[:10]}"
        self.q = Queue("sm", redis=self.client, prefix=self.prefix)
        self.model = Model()
        self.ids: list[str] = []

    def teardown(self):
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
        if keys:
            self.client.delete(*keys)

    def expect(self, action, model_action):
        """Run the model's version first, then taskq's: both succeed (taskq's
        result is returned along with the model's) or taskq raises exactly the
        refusal the model predicts."""
        self.model.begin()
        try:
            predicted = model_action()
        except Refused as refusal:
            with pytest.raises(refusal.kind):
                action()
            return None, None, True
        return predicted, action(), False

    # -- producing ---------------------------------------------------------------
    @initialize(target=tasks, batch=st.lists(
        st.tuples(st.integers(-2, 2), st.integers(0, 2), CKEYS), min_size=1, max_size=6))
    def first_tasks(self, batch):
        """Start with a few tasks, enqueued in one round trip."""
        ids = [f"sm:t{i}" for i in range(len(batch))]
        tasks = self.q.enqueue_many(
            dict(func="app:job", task_id=tid, priority=priority, max_retries=max_retries,
                 backoff="fixed", backoff_base=0, **key_options(ckey))
            for tid, (priority, max_retries, ckey) in zip(ids, batch))
        self.model.begin()
        for tid, (priority, max_retries, ckey), task in zip(ids, batch, tasks):
            assert task.status == self.model.enqueue(tid, priority, max_retries, [], "fail", ckey)
        self.ids += ids
        return multiple(*ids)

    @rule(target=tasks,
          priority=st.one_of(st.integers(-2, 2), st.sampled_from([-1000, 1000])),
          max_retries=st.integers(0, 2),
          deps=st.lists(tasks, max_size=2, unique=True),
          policy=st.sampled_from(["fail", "release"]),
          delay_zero=st.booleans(),
          reuse=st.one_of(st.none(), tasks),
          ckey=CKEYS)
    def enqueue(self, priority, max_retries, deps, policy, delay_zero, reuse, ckey):
        """A new task; ``reuse`` gives it the id of an earlier one, which is
        refused while that task exists and allowed once it was deleted."""
        task_id = reuse or f"sm:t{len(self.ids)}"
        options = dict(task_id=task_id, priority=priority, max_retries=max_retries,
                       backoff="fixed", backoff_base=0, depends_on=deps,
                       dependency_policy=policy, **key_options(ckey))
        if delay_zero:
            options["delay"] = 0  # "no delay", said explicitly
        predicted, task, refused = self.expect(
            lambda: self.q.enqueue("app:job", **options),
            lambda: self.model.enqueue(task_id, priority, max_retries, deps, policy, ckey))
        if refused:
            return multiple()
        assert task.id == task_id and task.status == predicted
        if reuse:
            return multiple()  # already in the bundle
        self.ids.append(task_id)
        return task_id

    # -- consuming ---------------------------------------------------------------
    @rule(target=leases, n=st.integers(1, 4))
    def claim(self, n):
        self.model.begin()
        ready = self.model.queued_in_order()
        expected = self.model.claimable(n)
        got = self.q.claim(n, lease=LEASE_SECONDS, worker="sm-worker")
        if self.model.paused:
            assert got == []
            return multiple()
        assert len(got) == expected
        claimed = [self.model.tasks[lease.id] for lease in got]
        # Leased in queue order: by priority, then FIFO (tasks released by
        # one call share a place and may come in any order among themselves),
        # skipping tasks whose concurrency key is full; never past its limit.
        orders = [t.order for t in claimed]
        assert orders == sorted(orders)
        busy = self.model.busy()
        for t in claimed:
            assert t.status == "queued"
            if t.ckey:
                busy[t.ckey] += 1
                assert busy[t.ckey] <= KEY_LIMITS[t.ckey]
        taken = {lease.id for lease in got}
        left = [t.order for t in ready if t.id not in taken and self.model.has_room(t, busy)]
        if orders and left:
            assert max(orders) <= min(left)
        for lease in got:
            self.model.claim(lease.id, lease.token)
            assert lease.task.status == "running"
            assert lease.task.attempts == self.model.tasks[lease.id].attempts
        return multiple(*got)

    @rule(lease=leases)
    def complete(self, lease):
        predicted, done, refused = self.expect(
            lambda: lease.complete({"ok": True}),
            lambda: self.model.complete(lease.id, lease.token))
        if not refused:
            assert done is predicted

    @rule(lease=leases, retryable=st.booleans())
    def fail(self, lease, retryable):
        self._fail(lease, lambda: lease.fail("boom", retryable=retryable), retryable, False)

    @rule(lease=leases)
    def acknowledge_cancel(self, lease):
        """The holder stops because cancel was requested (or just gives up)."""
        self._fail(lease, lambda: lease.cancelled("stopping as asked"), False, True)

    def _fail(self, lease, action, retryable, acknowledge_cancel):
        predicted, ended, refused = self.expect(
            action, lambda: self.model.fail(lease.id, lease.token, retryable, acknowledge_cancel))
        if not refused:
            assert ended == predicted

    @rule(lease=leases)
    def release(self, lease):
        self.expect(lease.release, lambda: self.model.release(lease.id, lease.token))

    @rule(lease=leases, call=st.sampled_from(["heartbeat", "checkpoint", "log"]))
    def holder_call(self, lease, call):
        """What only the current holder may do; a stale token is refused."""
        actions = {
            "heartbeat": lambda: lease.heartbeat(lease=LEASE_SECONDS),
            "checkpoint": lambda: lease.checkpoint({"step": self.model.step}),
            "log": lambda: lease.log(f"step {self.model.step}"),
        }
        cancel_requested, reply, refused = self.expect(
            actions[call], lambda: self.model.holder_call(lease.id, lease.token))
        if refused:
            return
        if call == "heartbeat":
            assert reply is cancel_requested
        elif call == "checkpoint":
            assert self.q.get(lease.id).checkpoint == {"step": self.model.step}
        else:
            self.model.tasks[lease.id].log_lines += 1
            assert self.q.log_count(lease.id) == self.model.tasks[lease.id].log_lines

    # -- managing ----------------------------------------------------------------
    @rule(task_id=tasks, force=st.booleans())
    def cancel(self, task_id, force):
        predicted, reply, refused = self.expect(
            lambda: self.q.cancel(task_id, reason="changed my mind",
                                  mode="force" if force else "request"),
            lambda: self.model.cancel(task_id, force))
        if not refused:
            assert reply == predicted

    @rule(task_id=tasks)
    def retry(self, task_id):
        predicted, reply, refused = self.expect(
            lambda: self.q.retry(task_id), lambda: self.model.retry(task_id))
        if not refused:
            assert reply == predicted

    @rule(task_id=tasks, force=st.booleans())
    def delete(self, task_id, force):
        self.expect(lambda: self.q.delete(task_id, force=force),
                    lambda: self.model.delete(task_id, force))

    # At most two pauses per example: a paused queue leases nothing, and an
    # example spent mostly paused would test little else.
    @precondition(lambda self: not self.model.paused and self.model.stats["paused"] < 2)
    @rule()
    def pause(self):
        self.expect(self.q.pause, lambda: self.model.pause(True))

    @precondition(lambda self: self.model.paused)
    @rule()
    def resume(self):
        self.expect(self.q.resume, lambda: self.model.pause(False))

    @rule()
    def reap(self):
        # Nothing is delayed and no lease expires here: upkeep finds nothing to do.
        self.model.begin()
        assert self.q.reap() == {"requeued": 0, "failed": 0, "promoted": 0}

    # -- after every step ----------------------------------------------------------
    @invariant()
    def redis_agrees_with_the_model(self):
        q, model = self.q, self.model
        pipe = q.redis.pipeline(transaction=True)
        for s in STATUSES:
            pipe.zrange(q.qkeys.status_index(s), 0, -1)
        pipe.zrange(q.qkeys.all, 0, -1)
        pipe.zrangebyscore(q.qkeys.queued, "-inf", "(+inf")
        for k in KEY_LIMITS:
            pipe.zrange(q.qkeys.parked(k), 0, -1)
        pipe.zrange(q.qkeys.held("sm-worker"), 0, -1)
        for tid in self.ids:
            pipe.hmget(q.qkeys.task(tid), "status", "attempts", "retries", "cancel")
        replies = pipe.execute()
        n = len(STATUSES)
        index = dict(zip(STATUSES, replies[:n]))
        in_all, in_line = replies[n], replies[n + 1]
        parked = dict(zip(KEY_LIMITS, replies[n + 2:n + 2 + len(KEY_LIMITS)]))
        held = replies[n + 2 + len(KEY_LIMITS)]
        fields = dict(zip(self.ids, replies[n + 3 + len(KEY_LIMITS):]))

        for tid in self.ids:
            t = model.tasks.get(tid)
            status, attempts, retries, cancel = fields[tid]
            holders = [s for s in STATUSES if tid in index[s]]
            if t is None:
                assert status is None and holders == [] and tid not in in_all, f"{tid} deleted"
                continue
            assert status == t.status, tid
            assert holders == [t.status], f"{tid} is {t.status} but indexed as {holders}"
            assert (int(attempts or 0), int(retries or 0)) == (t.attempts, t.retries), tid
            assert (cancel == "1") == t.cancel_requested, tid
        assert sorted(in_all) == sorted(model.tasks)

        # The queued index is in claim order (by priority, then FIFO), parked
        # tasks apart from it: each key's in the same order, only tasks of the
        # key, and never while the key has a slot nobody in line will take.
        orders = [model.tasks[tid].order for tid in in_line]
        assert orders == sorted(orders)
        all_parked = [tid for ids in parked.values() for tid in ids]
        assert sorted(in_line + all_parked) == sorted(index["queued"])
        busy = model.busy()
        for k, ids in parked.items():
            assert all(model.tasks[tid].ckey == k for tid in ids)
            orders = [model.tasks[tid].order for tid in ids]
            assert orders == sorted(orders)
            if ids:
                waiting = sum(model.tasks[tid].ckey == k for tid in in_line)
                assert busy[k] + waiting >= KEY_LIMITS[k], f"{k}: a free slot and {ids} parked"
        # Each lease is in its holder's index while it runs, and only then.
        assert sorted(held) == sorted(index["running"])

        assert q.counts() == {s: sum(t.status == s for t in model.tasks.values())
                              for s in STATUSES}
        stats = q.stats()
        stats.pop("runtime_ms", None)
        assert stats == {k: v for k, v in model.stats.items() if v}
        assert q.is_paused == model.paused


# 18,000 steps, each checked against Redis: about a minute on a quiet 2-core
# machine, several times that on a loaded one, so its hang guard is wider than
# the suite's 300 s (only a hang reaches it).
@pytest.mark.timeout(1200)
def test_the_queue_behaves_like_its_model(r):
    # CI replays the same examples every run (a red build must mean a change
    # broke something); developers' runs explore new ones.
    run_state_machine_as_test(lambda: QueueMachine(r), settings=settings(
        max_examples=examples(300), stateful_step_count=60, deadline=None,
        derandomize=os.environ.get("CI") == "true",
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


# -- what the machine found ------------------------------------------------------

def test_release_after_a_cancel_request_ends_the_task_cancelled(q):
    """The machine's shortest failing run: enqueue, claim, cancel, release."""
    t = q.enqueue("app:job")
    [lease] = q.claim(1)
    assert q.cancel(t.id) == "cancel_requested"
    assert lease.release() == "cancelled"  # the holder stops without running the task
    got = q.get(t.id)
    assert got.status == "cancelled"
    assert q.claim(1) == []  # nobody runs a task whose cancel was requested
