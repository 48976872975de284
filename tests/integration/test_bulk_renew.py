"""Short leases renewed in bulk (renew-30.lua, taskq.lease.renew_many): one
script call per queue renews every lease a worker holds, each still fenced
by its own token, so a lease that expired or went to another holder is
never revived and its late completion stays refused."""

from __future__ import annotations

import time

from taskq.errors import LeaseLost
from taskq.lease import complete_and_claim, renew_many


def test_one_call_per_queue_renews_every_lease(q, make_queue, counted, prefix):
    other = make_queue("other")
    for _ in range(3):
        q.enqueue("app:job")
        other.enqueue("app:job")
    held = q.claim(3, lease=0.5, worker="w") + other.claim(3, lease=0.5, worker="w")
    home = {ls.id: (q if ls.task.queue == "default" else other).qkeys for ls in held}
    before = {ls.id: q.redis.hget(home[ls.id].task(ls.id), "expires") for ls in held}
    renew_many(counted, held[:1])  # the script is loaded (a fresh Redis answers NOSCRIPT once)
    time.sleep(0.05)
    counted.counts.clear()
    assert renew_many(counted, held) == [1] * 6
    assert counted.counts["EVALSHA"] == 2  # one per queue, not one per task
    for ls in held:
        qk = home[ls.id]
        expires = int(q.redis.hget(qk.task(ls.id), "expires"))
        assert expires > int(before[ls.id])
        assert q.redis.zscore(qk.running, ls.id) == expires
        assert q.redis.zscore(qk.held("w"), ls.id) == expires


def test_an_expired_lease_is_not_revived_and_its_completion_is_refused(q):
    t = q.enqueue("app:job", max_retries=1)
    (stale,) = q.claim(1, lease=0.1, worker="dead")
    time.sleep(0.15)
    assert renew_many(q.redis, [stale]) == [0]  # expired, not reaped yet: still refused
    assert q.reap()["requeued"] == 1
    (fresh,) = q.claim(1, lease=30, worker="alive")
    assert renew_many(q.redis, [stale, fresh]) == [0, 1]
    try:
        stale.complete("late")
        raise AssertionError("a late completion from the old holder was accepted")
    except LeaseLost:
        pass
    assert q.get(t.id).status == "running"
    assert fresh.complete("ok") is True
    assert q.get(t.id).result == "ok"


def test_renewal_reports_a_requested_cancel(q):
    a, b = q.enqueue("app:job"), q.enqueue("app:job")
    held = q.claim(2, lease=5, worker="w")
    q.cancel(b.id)
    codes = dict(zip([ls.id for ls in held], renew_many(q.redis, held)))
    assert codes == {a.id: 1, b.id: 2}


def test_a_capped_claim_shortens_a_tasks_own_longer_lease(q, keys):
    long_ = q.enqueue("app:job", lease=300)
    short = q.enqueue("app:job", lease=1)
    _, leases = complete_and_claim(q.redis, keys, [], ["default"], 2, lease=5, worker="w",
                                   cap=True)
    by_id = {ls.id: ls for ls in leases}
    assert by_id[long_.id].length == 5 and by_id[short.id].length == 1
    now = int(q.redis.time()[0]) * 1000
    assert int(q.redis.hget(q.qkeys.task(long_.id), "expires")) <= now + 5000 + 1000
    q.enqueue("app:job", lease=300)
    (uncapped,) = q.claim(1, lease=5, worker="w")  # without the cap the task's own lease rules
    assert uncapped.length == 300
