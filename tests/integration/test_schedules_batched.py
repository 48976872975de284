"""The batched firing path against a real Redis: thousands of schedules due
at once, fired in batches by racing schedulers, exactly once each, with the
next due time each one would get alone; the next-run computation shared per
expression; a run left behind by a scheduler that died is delivered; copied
task specs equal freshly validated ones."""

from __future__ import annotations

import threading

import redis

from taskq.connection import client_from_url

from taskq import Keys
from taskq.options import build_spec
from taskq.schedules import firing, timing

from schedule_helpers import spec

ZONES = ("UTC", "Europe/Chisinau", "America/New_York")


def far_rules() -> list[tuple[str, str]]:
    """An hourly, a daily and a weekday rule in three zones, each next due
    at least half an hour from now: racing schedulers fire until nothing is
    due, so a rule due again before they finish (a */5 rule crossing its
    boundary on a slow machine) would rightly fire twice."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    local = [datetime.now(ZoneInfo(z)) for z in ZONES]
    minute = (local[0].minute + 30) % 60
    return [(f"{minute} * * * *", ZONES[0]),
            (f"{minute} {(local[1].hour + 12) % 24} * * *", ZONES[1]),
            (f"{minute} {(local[2].hour + 12) % 24} * * 1-5", ZONES[2])]


def arm(sched, sids, ms):
    pipe = sched.redis.pipeline(transaction=False)
    for sid in sids:
        pipe.hset(sched.sk.schedule(sid), "due", ms)
        pipe.zadd(sched.sk.due, {sid: ms})
    pipe.execute()


def many(sched, n, rules):
    """n schedules cycling through ``rules``: one created per rule, the rest
    copies of its hash under new ids (creating thousands one by one is slow)."""
    pay = {"callable": "builtins:len", "args": [[]]}
    firsts = [sched.create(spec(payload=pay, schedule_expr=e, timezone=tz))["id"] for e, tz in rules]
    raws = [sched.redis.hgetall(sched.sk.schedule(sid)) for sid in firsts]
    sids = list(firsts)
    pipe = sched.redis.pipeline(transaction=False)
    for i in range(len(rules), n):
        sid = f"copy-{i:05d}"
        pipe.hset(sched.sk.schedule(sid), mapping=dict(raws[i % len(rules)], id=sid))
        sids.append(sid)
    pipe.execute()
    return sids


def test_racing_schedulers_fire_thousands_of_due_schedules_once_each_in_batches(sched, q, prefix, redis_url):
    n = 2 * firing.FIRE_LIMIT + 300  # several fire_due passes of several batches each
    rules = far_rules()
    sids = many(sched, n, rules)
    due = sched.now_ms() - 1000
    arm(sched, sids, due)
    barrier = threading.Barrier(3)
    totals = []

    def scheduler():
        client = client_from_url(redis_url)
        barrier.wait()
        while True:
            counts = firing.fire_due(client, prefix)
            totals.append(counts)
            if counts["due"] == 0:
                return

    threads = [threading.Thread(target=scheduler) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(t["fired"] for t in totals) == n
    assert sum(t["delivered"] for t in totals) == n
    assert q.count() == n  # one engine task per schedule, none twice
    pipe = sched.redis.pipeline(transaction=False)
    for sid in sids:
        pipe.hget(sched.sk.schedule(sid), "runs_total")
        pipe.lrange(sched.sk.runs(sid), 0, -1)
        pipe.zscore(sched.sk.due, sid)
    replies = pipe.execute()
    after = timing.from_ms(due)
    for i, sid in enumerate(sids):
        runs_total, runs, score = replies[3 * i:3 * i + 3]
        assert runs_total == "1" and len(runs) == 1 and runs[0].startswith(f"d{due}|")
        expr, tz = rules[i % 3]
        assert int(score) == timing.to_ms(timing.next_run("cron", expr, tz, after))
    assert sched.redis.xlen(sched.sk.outbox) == 0


def test_the_next_run_is_computed_once_per_expression_timezone_and_time(sched, q, prefix, monkeypatch):
    sids = many(sched, 300, far_rules()[:2])
    arm(sched, sids, sched.now_ms() - 1000)
    calls = []
    real = timing.next_run
    monkeypatch.setattr(timing, "next_run", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert firing.fire_due(sched.redis, prefix)["fired"] == 300
    assert len(calls) == 2 and q.count() == 300


def test_a_run_left_in_the_outbox_by_a_scheduler_that_died_is_delivered_later(sched, q, prefix, monkeypatch):
    sid = sched.create(spec())["id"]
    reply = firing.fire(sched.redis, sched.sk, sid, "now")  # fired, then the scheduler died
    assert reply[3] == "created" and sched.redis.xlen(sched.sk.outbox) == 1
    firing.fire_due(sched.redis, prefix)
    assert q.count() == 0  # a young entry is its winner's to deliver
    monkeypatch.setattr(firing, "ORPHAN_MS", 0)
    assert firing.fire_due(sched.redis, prefix)["delivered"] == 1
    assert q.count() == 1 and sched.redis.xlen(sched.sk.outbox) == 0
    firing.upkeep(sched.redis, Keys(prefix))
    assert q.count() == 1


def test_copied_specs_equal_freshly_validated_ones():
    payload = ('{"pipeline": [{"step": "echo", "name": "a", "args": {"message": "hi \\u00e9"}},'
               ' {"step": "sleep", "depends_on": ["a"]}]}')
    base = dict(queue="q1", payload=payload, priority="2", max_retries="4", backoff_strategy="fixed",
                concurrency_key="k", event='{"user": 12345678901234567891, "tags": []}')
    templates: dict = {}
    firing.run_specs(dict(base, sid="11111111-1111-4111-8111-111111111111", run="d1700000000000"), templates)
    for entry in (dict(base, sid="22222222-2222-4222-8222-222222222222", run="d1700000060000"),
                  dict(base, sid='3"3', run="n7", event="")):
        copied = firing.run_specs(entry, templates)
        fresh = [build_spec(entry["queue"], **t) for t in firing.run_tasks(entry)]
        assert [s.to_dict() for s in copied] == [s.to_dict() for s in fresh]
        assert copied[1].deps == [copied[0].id]
