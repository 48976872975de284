"""Schedules against a real Redis: exactly-once firing under racing
schedulers, misfire after downtime, idempotent delivery, event schedules.
The clock is controlled by putting due times in the past, never by sleeping."""

import threading

import redis

from taskq.connection import client_from_url

from taskq.schedules import deliver, fire_due, publish
from taskq.schedules.firing import RUNS_KEPT

from schedule_helpers import HOUR, spec


def make_due(sched, sid, ms):
    """Pretend the schedule's due time is ``ms`` (Redis ms), as if time had passed."""
    sched.redis.hset(sched.sk.schedule(sid), "due", ms)
    sched.redis.zadd(sched.sk.due, {sid: ms})


def runs_created(sched, sid):
    return [x for x in sched.runs(sid, RUNS_KEPT) if x["outcome"] == "created"]


def test_three_racing_schedulers_fire_each_due_time_exactly_once(sched, q, prefix, redis_url):
    sids = [sched.create(spec(payload={"callable": "builtins:len", "args": [[1]]}))["id"]
            for _ in range(40)]
    rounds = 5
    base = sched.now_ms() - 600_000
    for n in range(rounds):
        for i, sid in enumerate(sids):
            # a past due time of its own each round (a run's task id carries its due time,
            # so a due time met twice would be one run, however slow the machine)
            make_due(sched, sid, base + n * 100 + i)
        barrier = threading.Barrier(3)
        totals = []

        def scheduler():
            client = client_from_url(redis_url)
            barrier.wait()
            for _ in range(3):
                totals.append(fire_due(client, prefix))

        threads = [threading.Thread(target=scheduler) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(t["fired"] for t in totals) == len(sids)
    for sid in sids:
        assert len(runs_created(sched, sid)) == rounds
        assert sched.get(sid, runs=0)["runs_total"] == rounds
    assert q.count() == len(sids) * rounds  # one engine task per run, no duplicates
    assert sched.redis.xlen(sched.sk.outbox) == 0


def test_delivering_an_outbox_entry_twice_creates_its_tasks_once(sched, q, prefix):
    sid = sched.create(spec())["id"]
    make_due(sched, sid, sched.now_ms() - 10)
    r = sched.redis
    # fire without delivering: keep a copy of the entry, deliver, put it back, deliver again
    from taskq.schedules.firing import fire
    f = sched._raw(sid)
    reply = fire(r, sched.sk, sid, "due", str(f["due"]), str(sched.now_ms() + HOUR))
    assert reply[0] == 1 and reply[3] == "created"
    (entry_id, fields), = r.xrange(sched.sk.outbox)
    first = deliver(r, prefix)
    r.xadd(sched.sk.outbox, fields)
    second = deliver(r, prefix)
    assert first == second and q.count() == 1
    assert r.xlen(sched.sk.outbox) == 0


def test_a_run_entry_of_the_former_one_run_shape_is_still_delivered(sched, q, prefix):
    """Entries written before runs were batched (one entry a run, its fields
    flat) can be in the outbox across an upgrade: they are delivered alike."""
    import json
    sid = sched.create(spec())["id"]
    make_due(sched, sid, sched.now_ms() - 10)
    r = sched.redis
    from taskq.schedules.firing import fire
    f = sched._raw(sid)
    fire(r, sched.sk, sid, "due", str(f["due"]), str(sched.now_ms() + HOUR))
    (entry_id, fields), = r.xrange(sched.sk.outbox)
    (run,) = json.loads(fields["runs"])
    r.xdel(sched.sk.outbox, entry_id)
    flat = dict(zip(("sid", "run", "queue", "payload", "priority", "max_retries",
                     "backoff_strategy", "concurrency_key"), run), at=fields["at"], event="")
    r.xadd(sched.sk.outbox, flat)
    assert list(deliver(r, prefix)) == [(sid, run[1])]
    assert q.count() == 1 and r.xlen(sched.sk.outbox) == 0
    assert sched.get(sid, runs=0)["runs_total"] == 1


def test_misfire_run_once_after_downtime_runs_one_late_run(sched, q, prefix):
    sid = sched.create(spec())["id"]
    now = sched.now_ms()
    make_due(sched, sid, now - 5 * HOUR)  # the scheduler was down for five hourly runs
    assert fire_due(sched.redis, prefix)["fired"] == 1
    assert fire_due(sched.redis, prefix)["fired"] == 0
    view = sched.get(sid)
    assert len(runs_created(sched, sid)) == 1 and q.count() == 1
    assert view["next_run_at"] > view["last_run_at"]  # continues from now, not from the missed ones
    assert sched.redis.zscore(sched.sk.due, sid) > now


def test_misfire_skip_after_downtime_runs_nothing_and_moves_on(sched, q, prefix):
    sid = sched.create(spec(misfire_policy="skip"))["id"]
    now = sched.now_ms()
    make_due(sched, sid, now - 5 * HOUR)
    counts = fire_due(sched.redis, prefix)
    assert counts["skipped"] == 1 and counts["fired"] == 0
    assert q.count() == 0
    assert [x["outcome"] for x in sched.runs(sid)] == ["skipped"]
    assert sched.redis.zscore(sched.sk.due, sid) > now


def test_a_due_time_not_yet_reached_does_not_fire(sched, q, prefix):
    sid = sched.create(spec(schedule_expr="* * * * *"))["id"]
    assert fire_due(sched.redis, prefix)["fired"] == 0
    assert q.count() == 0 and sched.get(sid)["next_run_at"] is not None


def test_a_once_schedule_fires_once_then_is_finished(sched, q, prefix):
    sid = sched.create(spec(schedule_kind="once", schedule_expr="2099-01-01T00:00:00Z"))["id"]
    make_due(sched, sid, sched.now_ms() - 10)
    assert fire_due(sched.redis, prefix)["fired"] == 1
    view = sched.get(sid)
    assert view["status"] == "finished" and view["next_run_at"] is None
    make_due(sched, sid, sched.now_ms() - 10)  # even a stray due entry cannot fire it again
    assert fire_due(sched.redis, prefix)["fired"] == 0 and q.count() == 1


def test_an_event_schedule_fires_on_publish_with_the_payload(sched, make_queue, prefix):
    ev = sched.create(spec(schedule_kind="event", schedule_expr="user.signup", queue="events"))
    other = sched.create(spec(schedule_kind="event", schedule_expr="user.deleted", queue="events"))
    paused = sched.create(spec(schedule_kind="event", schedule_expr="user.signup", queue="events"))
    sched.pause(paused["id"])
    assert ev["next_run_at"] is None
    created = publish(sched.redis, "user.signup", {"user": 2 ** 60 + 1, "tags": []}, prefix=prefix)
    assert len(created) == 1
    q = make_queue("events")
    (task,) = q.list()
    assert task.meta["schedule_id"] == ev["id"]
    assert task.meta["event"] == {"user": 2 ** 60 + 1, "tags": []}
    assert sched.get(other["id"])["runs_total"] == 0 and sched.get(paused["id"])["runs_total"] == 0
    assert fire_due(sched.redis, prefix)["fired"] == 0  # events never come due by time
    assert publish(sched.redis, "nobody.listens", prefix=prefix) == []


def test_the_runs_list_is_bounded(sched, prefix):
    sid = sched.create(spec(payload={"callable": "builtins:len", "args": [[]]}))["id"]
    from taskq.schedules.firing import fire_batch
    fire_batch(sched.redis, sched.sk, "now", [(sid, "", "", False)] * (RUNS_KEPT + 5))
    assert sched.redis.llen(sched.sk.runs(sid)) == RUNS_KEPT
    assert sched.get(sid, runs=0)["runs_total"] == RUNS_KEPT + 5


def test_three_taskq_scheduler_processes_fire_each_due_schedule_once(sched, q, prefix, redis_url, wait_for):
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    sids = [sched.create(spec(payload={"callable": "builtins:len", "args": [[]]}))["id"] for _ in range(20)]
    now = sched.now_ms()
    for sid in sids:
        make_due(sched, sid, now - 1000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
    env.update(REDIS_URL=redis_url, TASKQ_PREFIX=prefix, PYTHONPATH=str(root))
    procs = [subprocess.Popen([sys.executable, "-m", "taskq.cli", "scheduler", "--interval", "0.2"],
                              env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(3)]
    try:
        assert wait_for(lambda: q.count() >= len(sids), timeout=30)
        # keep them running a little longer: a second fire would show up below
        wait_for(lambda: False, timeout=1.0)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=15)
    assert q.count() == len(sids)
    assert all(len(runs_created(sched, sid)) == 1 for sid in sids)


def test_taskq_publish_is_the_same_publish(sched, make_queue, prefix):
    import taskq
    sid = sched.create(spec(schedule_kind="event", schedule_expr="invoice.paid", queue="events"))["id"]
    assert len(taskq.publish("invoice.paid", {"n": 1}, redis=sched.redis, prefix=prefix)) == 1
    assert sched.get(sid)["runs_total"] == 1 and make_queue("events").count() == 1
