"""The single enqueue's fast path (lua/enqueue_one) against the general
script (lua/enqueue): a plain task made by either reads back the same in its
hash, status index, counters, series and events; anything not plain takes
the general path."""

from __future__ import annotations

import re
import time
import uuid

import pytest

import taskq.queue as queue_mod
from taskq import TaskExists
from taskq.lua import LUA_DIR, LuaScript, script
from taskq.options import TaskSpec
from taskq.monitoring.task_events import timeline

STAMPS = {"created", "updated", "scheduled"}
"""Fields that hold the Redis time of the call (compared apart)."""

PLAIN_CASES = [
    {},
    {"priority": 7},
    {"priority": -3, "max_retries": 0, "timeout": 30, "lease": 2.5},
    {"timeout": 0.1, "backoff": "fixed", "backoff_base": 0.25, "meta": {"a": [], "n": 2 ** 60}},
    {"delay": 30},
    {"delay": 0},
    {"scheduled_at": time.time() + 60},
    {"scheduled_at": time.time() - 60},
    {"scheduled_at": 0},
]


@pytest.fixture
def verbs(monkeypatch):
    """The scripts Queue calls, in order."""
    seen = []
    real_call, real_keys = queue_mod.call, queue_mod.call_with_keys

    def call(client, verb, *a):
        seen.append(verb)
        return real_call(client, verb, *a)

    def call_with_keys(client, verb, *a):
        seen.append(verb)
        return real_keys(client, verb, *a)

    monkeypatch.setattr(queue_mod, "call", call)
    monkeypatch.setattr(queue_mod, "call_with_keys", call_with_keys)
    return seen


def stored(q, tid):
    raw = q.redis.hgetall(q.qkeys.task(tid))
    # A fractional timeout reads back the same float: the general script's
    # number goes through Lua, which Redis 6.2 prints with 17 digits.
    return {k: float(v) if k == "timeout" else v for k, v in raw.items() if k not in STAMPS}, raw


def index_of(q, tid):
    return [s for s in ("queued", "delayed", "blocked") if q.redis.zscore(q.qkeys.status_index(s), tid) is not None]


def series_events(q):
    return sorted((f.split(":")[0], f.split(":")[2], v) for f, v in q.redis.hgetall(q.qkeys.series).items())


@pytest.mark.parametrize("options", PLAIN_CASES)
def test_a_plain_task_reads_back_the_same_through_either_script(make_queue, verbs, options):
    fast, general = make_queue("fast"), make_queue("general")
    fast.enqueue("warm:up")  # registers the queue: later enqueues take the fast path
    general.enqueue_many([{"func": "warm:up"}])
    del verbs[:]
    a = fast.enqueue("m:f", 1, "x", key=[1.5, None], **options)
    general._registered = False  # a Queue's first call registers its queue: the general script
    b = general.enqueue_many([dict(func="m:f", args=(1, "x"), kwargs={"key": [1.5, None]}, **options)])[0]
    assert verbs == ["enqueue_one", "enqueue"]
    (fa, raw_a), (fb, raw_b) = stored(fast, a.id), stored(general, b.id)
    assert fa == fb and set(raw_a) == set(raw_b)
    assert raw_a["created"] == raw_a["updated"]
    if "scheduled" in raw_a:  # the same due time relative to creation
        assert int(raw_a["scheduled"]) - int(raw_a["created"]) == pytest.approx(
            int(raw_b["scheduled"]) - int(raw_b["created"]), abs=50)
    assert index_of(fast, a.id) == index_of(general, b.id) == [a.status]
    assert a.status == b.status
    got = fast.get(a.id)
    assert (got.args, got.kwargs, got.priority, got.max_retries, got.timeout, got.meta) == \
        (a.args, a.kwargs, a.priority, a.max_retries, a.timeout, a.meta)
    assert a.created_at == got.created_at and a.scheduled_at == got.scheduled_at
    assert fast.stats() == general.stats() == {"created": 2}
    assert series_events(fast) == series_events(general)
    ta, tb = timeline(fast.redis, fast.keys, got), timeline(general.redis, general.keys, general.get(b.id))
    assert [e["event"] for e in ta.events] == [e["event"] for e in tb.events] == ["created"]
    assert fast.redis.xlen(fast.qkeys.events) == general.redis.xlen(general.qkeys.events) == 2
    assert fast.counts() == general.counts() and fast.count() == general.count() == 2
    assert fast.redis.llen(fast.qkeys.wake) == general.redis.llen(general.qkeys.wake)


def test_fast_path_tasks_are_claimed_in_priority_then_fifo_order(q, verbs):
    q.enqueue("warm:up", priority=-9)
    ids = [q.enqueue("f", priority=p).id for p in (1, 5, 1, 5, 0)]
    assert set(verbs) == {"enqueue", "enqueue_one"} and verbs.count("enqueue") == 1
    assert q.enqueue_many([{"func": "f"}])[0].status == "queued" and verbs[-1] == "enqueue_one"
    assert len(q.enqueue_many([{"func": "f"}] * 2)) == 2 and verbs[-1] == "enqueue"
    claimed = [lease.id for lease in q.claim(10)]
    assert claimed[:5] == [ids[1], ids[3], ids[0], ids[2], ids[4]] and len(claimed) == 9


def test_a_chosen_id_that_exists_is_refused_and_nothing_is_written(q, verbs):
    q.enqueue("f", task_id="one")
    before = (q.redis.hgetall(q.qkeys.task("default:one")), q.stats(), q.redis.xlen(q.qkeys.events))
    with pytest.raises(TaskExists):
        q.enqueue("g", task_id="one")
    assert verbs[-1] == "enqueue_one"
    assert (q.redis.hgetall(q.qkeys.task("default:one")), q.stats(), q.redis.xlen(q.qkeys.events)) == before
    assert q.enqueue("g", task_id="two").id == "default:two"


@pytest.mark.parametrize("options", [
    {"tags": ["t"]}, {"dedupe_key": "k"}, {"concurrency_key": "c"}, {"depends_on": ["default:x"]},
])
def test_what_is_not_plain_takes_the_general_script(q, verbs, options):
    q.enqueue("warm:up")
    dep = q.enqueue("f", task_id="x")
    del verbs[:]
    t = q.enqueue("f", **options)
    assert verbs == ["enqueue"] and q.get(t.id).status == t.status
    assert dep.status == "queued"


def test_delayed_fast_tasks_are_promoted_when_due(q):
    q.enqueue("warm:up")
    t = q.enqueue("f", delay=0.05)
    assert t.status == "delayed" and q.list_ids("delayed") == [t.id]
    time.sleep(0.1)
    assert q.reap()["promoted"] == 1 and q.get(t.id).status == "queued"


def test_the_wake_list_stays_bounded(q):
    for _ in range(70):
        q.enqueue("f")
    assert q.redis.llen(q.qkeys.wake) == 64


def test_the_keys_passed_are_the_keys_the_script_names():
    names = re.findall(r"(\w+) = KEYS\[(\d+)\]", (LUA_DIR / "enqueue_one-9.lua").read_text())
    assert [n for n, _ in names] == list(queue_mod.ONE_KEY_NAMES)
    assert [int(i) for _, i in names] == list(range(1, script("enqueue_one").numkeys + 1))


def test_a_script_the_server_does_not_hold_is_loaded_and_run(q):
    # a server restarted or flushed since: EVALSHA answers NOSCRIPT
    fresh = LuaScript("enqueue_one", 9, script("enqueue_one").source + f"\n-- {uuid.uuid4()}\n")
    assert not any(q.redis.script_exists(fresh.sha))
    q.enqueue("warm:up")
    reply = fresh(q.redis, q._one_keys, TaskSpec("default:fresh", {"func": "f"}).flat_args())
    assert reply[2:] == ["default:fresh", "queued"] and q.get("default:fresh").func == "f"
    assert all(q.redis.script_exists(fresh.sha))
