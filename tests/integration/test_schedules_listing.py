"""Schedules.list costs a page, not the store: every filter combination
reads one listing index (kept by the scripts that change a schedule), sends
a bounded number of commands whatever the number of schedules, and answers
what reading every schedule and filtering in Python answers."""

from __future__ import annotations

import itertools
import random
import uuid

from taskq.lua import script
from taskq.schedules import Schedules, fire_due, model
from taskq.schedules.store import _to_text, decode

from schedule_helpers import AGENT, spec

OTHER = "0b7e2f54-9f1c-4a55-8d21-3c6f0f6a9e42"


def reference(sched, status=None, created_by=None, schedule_kind=None):
    """Every schedule read and filtered in Python, newest first (ties by id, descending)."""
    ids = sched.redis.zrevrange(sched.sk.index, 0, -1)
    out = []
    for sid in ids:
        f = decode(sched.redis.hgetall(sched.sk.schedule(sid)))
        if (status is None or f["status"] == status) and (created_by is None or f["created_by"] == created_by) \
                and (schedule_kind is None or f["schedule_kind"] == schedule_kind):
            out.append(sid)
    return out


def make_mixed(sched, n=60, seed=7):
    """Schedules of every kind, two creators, moved through every status."""
    rnd = random.Random(seed)
    kinds = [("cron", "0 * * * *"), ("rrule", "FREQ=DAILY"), ("once", "2099-01-01T00:00:00Z"),
             ("event", "thing.happened")]
    sids = []
    for i in range(n):
        kind, expr = rnd.choice(kinds)
        sids.append(sched.create(spec(schedule_kind=kind, schedule_expr=expr,
                                      created_by=rnd.choice([AGENT, OTHER])))["id"])
    for sid in sids:
        roll = rnd.random()
        if roll < 0.2:
            sched.pause(sid)
        elif roll < 0.35:
            sched.cancel(sid)
        elif roll < 0.45:
            sched.update(sid, {"created_by": OTHER if sched.get(sid, 0)["created_by"] == AGENT else AGENT})
        elif roll < 0.55:
            sched.update(sid, {"schedule_kind": "cron", "schedule_expr": "*/5 * * * *"})
    # once schedules made due are finished by firing (the fire script moves their index entries)
    now = sched.now_ms()
    for sid in sids:
        f = sched._raw(sid)
        if f["schedule_kind"] == "once" and f["status"] == "active":
            sched.redis.hset(sched.sk.schedule(sid), "due", now - 10)
            sched.redis.zadd(sched.sk.due, {sid: now - 10})
    fire_due(sched.redis, sched.prefix)
    return sids


def test_every_filter_combination_answers_what_filtering_everything_answers(sched):
    make_mixed(sched)
    statuses = [None, "active", "paused", "canceled", "finished"]
    kinds = [None, "cron", "rrule", "once", "event"]
    creators = [None, AGENT, OTHER]
    seen_finished = False
    for status, kind, creator in itertools.product(statuses, kinds, creators):
        want = reference(sched, status, creator, kind)
        seen_finished |= status == "finished" and bool(want)
        for offset, limit in ((0, 1000), (0, 7), (5, 3), (len(want), 5)):
            views, total = sched.list(status=status, created_by=creator, schedule_kind=kind,
                                      limit=limit, offset=offset)
            assert total == len(want), (status, kind, creator)
            assert [v["id"] for v in views] == want[offset:offset + limit], (status, kind, creator)
    assert seen_finished  # the firing path was exercised


def test_a_creator_that_is_not_a_canonical_uuid_matches_nothing(sched):
    sched.create(spec())
    assert sched.list(created_by=AGENT.upper()) == ([], 0)
    assert sched.list(created_by="x" * 10_000) == ([], 0)
    assert sched.list(created_by=AGENT)[1] == 1


def test_a_filtered_page_costs_the_page_not_the_store(redis_url, prefix, counted):
    store = Schedules(counted, prefix=prefix)
    body = spec(created_by=OTHER)
    for i in range(400):
        store.create(spec() if i % 50 else body)  # 8 of OTHER among 400
    paused = [v["id"] for v in store.list(limit=5)[0]]
    for sid in paused:
        store.pause(sid)
    for kwargs, total in (({}, 400), ({"status": "paused"}, 5), ({"created_by": OTHER}, 8),
                          ({"status": "active", "schedule_kind": "cron", "created_by": AGENT}, 387)):
        counted.counts.clear()
        views, n = store.list(limit=10, **kwargs)
        assert n == total and len(views) == min(10, total)
        sent = sum(counted.counts.values())
        assert counted.counts["HGETALL"] == len(views)
        assert sent <= len(views) + 4, counted.counts  # version check, ZCARD, ZREVRANGE: no per-schedule read
        assert counted.counts["HMGET"] == 0 and counted.counts["ZRANGE"] == 0


def test_schedules_stored_before_the_indexes_are_listed_after_one_backfill(sched, counted, prefix):
    sids = [sched.create(spec(created_by=OTHER if i % 3 else AGENT))["id"] for i in range(30)]
    sched.pause(sids[0])
    # as a store written before the listing indexes existed: only the index zset
    for key in sched.redis.scan_iter(match=sched.sk.listing_prefix.replace("{", "\\{").replace("}", "\\}") + "*"):
        sched.redis.delete(key)
    sched.redis.delete(sched.sk.listing_version)
    store = Schedules(counted, prefix=prefix)
    assert [v["id"] for v in store.list(created_by=AGENT)[0]] == reference(sched, created_by=AGENT)
    assert store.list(status="paused")[1] == 1
    counted.counts.clear()
    store.list(status="paused")
    assert counted.counts["EVALSHA"] == 0  # the backfill ran once


def test_schedules_made_in_the_same_millisecond_list_newest_first(sched):
    """Creation order decides the listing, not the ids, when created_at ties."""
    fields = model.clean(spec(schedule_kind="event", schedule_expr="thing.happened"))
    pairs = [x for k, v in fields.items() for x in (k, _to_text(v))]
    s = script("schedule")
    sched.redis.script_load(s.source)
    sids = [str(uuid.uuid4()) for _ in range(30)]
    pipe = sched.redis.pipeline(transaction=False)  # one round trip: creates a few µs apart
    for sid in sids:
        pipe.evalsha(s.sha, s.numkeys, *sched._keys(sid), "create", sid, "", *pairs)
    assert all(reply[0] == 1 for reply in pipe.execute())
    created = [sched._raw(sid)["created_at"] for sid in sids]
    assert len(set(created)) < len(created)  # some share a millisecond
    assert [v["id"] for v in sched.list(limit=30)[0]] == sids[::-1]
    assert [v["id"] for v in sched.list(schedule_kind="event", limit=30)[0]] == sids[::-1]
