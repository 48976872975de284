"""Dependencies: chains, diamonds, failure policies, and across queues."""

from __future__ import annotations

from taskq import maintenance


def run_one(q, expect_id=None, fail=False):
    [lease] = q.claim(1)
    if expect_id:
        assert lease.id == expect_id
    if fail:
        lease.fail("boom", retryable=False)
    else:
        lease.complete(lease.id)
    return lease


def test_chain_runs_in_order(q):
    a = q.enqueue("f")
    b = q.enqueue("f", depends_on=[a])
    c = q.enqueue("f", depends_on=[b.id])
    assert (b.status, c.status) == ("blocked", "blocked")
    run_one(q, a.id)
    assert q.get(b.id).status == "queued" and q.get(c.id).status == "blocked"
    run_one(q, b.id)
    run_one(q, c.id)
    assert q.claim(1) == []


def test_diamond_waits_for_both_branches(q):
    top = q.enqueue("f")
    left = q.enqueue("f", depends_on=[top])
    right = q.enqueue("f", depends_on=[top])
    bottom = q.enqueue("f", depends_on=[left, right])
    run_one(q, top.id)
    run_one(q)
    assert q.get(bottom.id).status == "blocked"
    run_one(q)
    assert q.get(bottom.id).status == "queued"
    assert q.redis.scard(q.qkeys.waiting(bottom.id)) == 0


def test_dependency_on_finished_task(q):
    a = q.enqueue("f")
    run_one(q, a.id)
    ok = q.enqueue("f", depends_on=[a])
    assert ok.status == "queued"
    run_one(q, ok.id)
    failed = q.enqueue("f", max_retries=0)
    run_one(q, failed.id, fail=True)
    dead = q.enqueue("f", depends_on=[failed])
    assert dead.status == "failed" and "dependency" in q.get(dead.id).error
    released = q.enqueue("f", depends_on=[failed], dependency_policy="release")
    assert released.status == "queued"


def test_failed_dependency_fails_dependents_transitively(q):
    a = q.enqueue("f", max_retries=0)
    b = q.enqueue("f", depends_on=[a])
    c = q.enqueue("f", depends_on=[b])
    keep = q.enqueue("f", depends_on=[a], dependency_policy="release")
    run_one(q, a.id, fail=True)
    assert q.get(b.id).status == "failed" and q.get(c.id).status == "failed"
    assert q.get(b.id).error == f"dependency {a.id} failed"
    assert q.get(keep.id).status == "queued"


def test_cancelled_dependency_follows_the_policy(q):
    a = q.enqueue("f")
    b = q.enqueue("f", depends_on=[a])
    c = q.enqueue("f", depends_on=[a], dependency_policy="release")
    q.cancel(a.id)
    assert q.get(b.id).status == "failed" and q.get(b.id).error.endswith("cancelled")
    assert q.get(c.id).status == "queued"


def test_delayed_dependent_waits_for_its_time_after_release(q):
    a = q.enqueue("f")
    b = q.enqueue("f", depends_on=[a], delay=60)
    assert b.status == "blocked"
    run_one(q, a.id)
    assert q.get(b.id).status == "delayed"


def test_cross_queue_dependency(make_queue):
    ingest, report = make_queue("ingest"), make_queue("report")
    a = ingest.enqueue("f")
    b = report.enqueue("f", depends_on=[a])
    assert b.status == "blocked"
    assert report.claim(1) == []
    run_one(ingest, a.id)  # completion delivers through the outbox
    assert report.get(b.id).status == "queued"
    assert ingest.redis.llen(ingest.qkeys.outbox) == 0


def test_cross_queue_dependency_already_finished(make_queue):
    ingest, report = make_queue("ingest"), make_queue("report")
    a = ingest.enqueue("f", max_retries=0)
    run_one(ingest, a.id, fail=True)
    b = report.enqueue("f", depends_on=[a])
    assert report.get(b.id).status == "failed"


def test_outbox_left_behind_by_a_crash_is_delivered_by_the_scheduler(make_queue, keys):
    ingest, report = make_queue("ingest"), make_queue("report")
    a = ingest.enqueue("f")
    b = report.enqueue("f", depends_on=[a])
    [lease] = ingest.claim(1)
    # Complete through the raw script, as a process would that died before
    # its follow-up call delivered the outcome.
    from taskq.lua import call
    assert call(ingest.redis, "complete", ingest.qkeys, 1, a.id, lease.token, "null")[1] == 1
    assert report.get(b.id).status == "blocked"
    totals = maintenance.tick(ingest.redis, keys)
    assert totals["delivered"] == 1
    assert report.get(b.id).status == "queued"
    # Delivering the same outcome again changes nothing.
    ingest.redis.rpush(ingest.qkeys.outbox, f'["{b.id}","{a.id}","completed"]')
    maintenance.tick(ingest.redis, keys)
    assert report.get(b.id).status == "queued"
    assert report.count("queued") == 1


def test_cross_queue_failure_cascades(make_queue):
    a_q, b_q, c_q = make_queue("qa"), make_queue("qb"), make_queue("qc")
    a = a_q.enqueue("f", max_retries=0)
    b = b_q.enqueue("f", depends_on=[a])
    c = c_q.enqueue("f", depends_on=[b])
    run_one(a_q, a.id, fail=True)
    assert b_q.get(b.id).status == "failed"
    assert c_q.get(c.id).status == "failed"


def test_deleting_a_dependency_resolves_dependents(q):
    a = q.enqueue("f")
    b = q.enqueue("f", depends_on=[a], dependency_policy="release")
    q.delete(a.id)
    assert q.get(b.id).status == "queued"
