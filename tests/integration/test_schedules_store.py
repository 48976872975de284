"""Schedule transitions, the dedupe window, the concurrency key and a
pipeline run executed by a real `taskq worker --burst` process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskq.errors import InvalidState
from taskq.options import InvalidField
from taskq.schedules import ScheduleNotFound, fire_due

ROOT = Path(__file__).resolve().parents[2]
from schedule_helpers import spec


def due_ms(sched, sid):
    score = sched.redis.zscore(sched.sk.due, sid)
    return None if score is None else int(score)


def test_pause_resume_snooze_cancel(sched, q, prefix):
    sid = sched.create(spec())["id"]
    first = due_ms(sched, sid)
    assert sched.pause(sid)["status"] == "paused"
    view = sched.get(sid)
    assert view["next_run_at"] is None and due_ms(sched, sid) is None
    assert sched.pause(sid)["status"] == "paused"  # twice is fine
    with pytest.raises(InvalidState):
        sched.snooze(sid, 60)  # nothing to move while paused
    # a paused schedule does not fire, even with a stale due entry
    sched.redis.zadd(sched.sk.due, {sid: 1})
    assert fire_due(sched.redis, prefix)["fired"] == 0 and q.count() == 0
    assert sched.resume(sid)["status"] == "active"
    assert due_ms(sched, sid) == first
    assert sched.snooze(sid, 90, reason="maintenance")["snooze_reason"] == "maintenance"
    assert due_ms(sched, sid) == first + 90_000
    assert sched.cancel(sid)["status"] == "canceled"
    assert due_ms(sched, sid) is None and sched.get(sid)["next_run_at"] is None
    assert sched.cancel(sid)["status"] == "canceled"
    for action in (sched.resume, sched.pause, sched.run_now, lambda s: sched.snooze(s, 5),
                   lambda s: sched.update(s, {"title": "x"})):
        with pytest.raises(InvalidState):
            action(sid)
    assert q.count() == 0


def test_run_now_runs_once_and_leaves_the_schedule_alone(sched, q):
    sid = sched.create(spec(payload={"callable": "builtins:len", "args": [[1, 2]]}))["id"]
    before = due_ms(sched, sid)
    out = sched.run_now(sid)
    assert out["outcome"] == "created" and len(out["task_ids"]) == 1
    assert q.get(out["task_ids"][0]).func == "builtins:len"
    assert due_ms(sched, sid) == before and sched.get(sid)["status"] == "active"
    sched.pause(sid)
    assert sched.run_now(sid)["outcome"] == "created"  # a paused schedule can still be run by hand
    assert q.count() == 2 and sched.get(sid)["last_run_at"] is not None


def test_snooze_bounds_and_unknown_ids(sched):
    sid = sched.create(spec())["id"]
    for bad in (0, 604801, 1.5, True, "60"):
        with pytest.raises(InvalidField) as e:
            sched.snooze(sid, bad)
        assert e.value.field == "delay_seconds"
    for action in (sched.get, sched.pause, sched.resume, sched.cancel, sched.run_now):
        with pytest.raises(ScheduleNotFound):
            action("no-such-schedule")


def test_update_is_partial_and_recomputes_the_next_run(sched):
    created = sched.create(spec(timezone="UTC"))
    sid = created["id"]
    updated = sched.update(sid, {"title": "renamed"})
    assert updated["title"] == "renamed" and updated["next_run_at"] == created["next_run_at"]
    moved = sched.update(sid, {"timezone": "Asia/Kathmandu"})  # UTC+05:45: the hour mark moves
    assert moved["next_run_at"] != created["next_run_at"] and moved["next_run_at"].endswith("15:00.000Z")
    with pytest.raises(InvalidField) as e:
        sched.update(sid, {"schedule_expr": "not cron"})
    assert e.value.field == "schedule_expr"
    assert sched.get(sid)["schedule_expr"] == "0 * * * *"


def test_list_filters_and_pages(sched):
    other = "0b7f2c61-1111-4c2a-9d1e-222233334444"
    a = sched.create(spec())["id"]
    b = sched.create(spec(schedule_kind="event", schedule_expr="e1"))["id"]
    c = sched.create(spec(created_by=other))["id"]
    sched.pause(c)
    items, total = sched.list()
    assert total == 3 and {x["id"] for x in items} == {a, b, c}  # newest first (ties: by id)
    assert [x["id"] for x in sched.list(status="paused")[0]] == [c]
    assert [x["id"] for x in sched.list(schedule_kind="event")[0]] == [b]
    assert [x["id"] for x in sched.list(created_by=other)[0]] == [c]
    page, total = sched.list(limit=1, offset=1)
    assert total == 3 and [x["id"] for x in page] == [items[1]["id"]]
    with pytest.raises(InvalidField):
        sched.list(status="sleeping")


def test_the_payload_text_is_stored_as_given(sched):
    text = '{"callable": "m:f", "args": [12345678901234567891, []], "kwargs": {}}'
    sid = sched.create(spec(payload=text))["id"]
    assert sched.redis.hget(sched.sk.schedule(sid), "payload") == text
    assert sched.get(sid)["payload"]["args"] == [12345678901234567891, []]


def test_the_dedupe_window_drops_a_run_inside_it(sched, q, prefix, wait_for):
    a = sched.create(spec(dedupe_key="nightly-report", dedupe_window_seconds=300))["id"]
    b = sched.create(spec(dedupe_key="nightly-report", dedupe_window_seconds=300))["id"]
    assert sched.run_now(a)["outcome"] == "created"
    assert sched.run_now(a)["outcome"] == "deduplicated"
    assert sched.run_now(b)["outcome"] == "deduplicated"  # the key, not the schedule, dedupes
    assert q.count() == 1
    ttl = sched.redis.pttl(sched.sk.dedupe("nightly-report"))
    assert 290_000 < ttl <= 300_000  # the window runs from the run that holds the key
    sched.redis.pexpire(sched.sk.dedupe("nightly-report"), 1)  # as if the window had passed
    assert wait_for(lambda: not sched.redis.exists(sched.sk.dedupe("nightly-report")), timeout=5)
    assert sched.run_now(b)["outcome"] == "created" and q.count() == 2
    assert [x["outcome"] for x in sched.runs(a)] == ["deduplicated", "created"]


def test_runs_sharing_a_concurrency_key_never_overlap(sched, q):
    pay = {"callable": "builtins:len", "args": [[]]}
    a = sched.create(spec(payload=pay, concurrency_key="db-backup"))["id"]
    b = sched.create(spec(payload=pay, concurrency_key="db-backup"))["id"]
    free = sched.create(spec(payload=pay))["id"]
    for sid in (a, b, free):
        sched.run_now(sid)
    leases = q.claim(n=10)
    held = sorted(lease.task.meta["schedule_id"] for lease in leases)
    assert len(leases) == 2 and free in held  # one db-backup run at a time
    backup = next(lease for lease in leases if lease.task.meta["schedule_id"] != free)
    assert q.claim(n=10) == []
    backup.complete("ok")
    (nxt,) = q.claim(n=10)
    assert nxt.task.meta["schedule_id"] in (a, b) and nxt.task.meta["schedule_id"] != backup.task.meta["schedule_id"]


def test_runs_with_a_rate_key_count_against_its_limit(sched, q):
    q.set_rate_limit("1/h", key="partner-api")
    pay = {"callable": "builtins:len", "args": [[]]}
    a = sched.create(spec(payload=pay, rate_key="partner-api"))
    assert a["rate_key"] == "partner-api"
    for _ in range(2):
        sched.run_now(a["id"])
    leases = q.claim(n=10)
    assert [lease.task.rate_key for lease in leases] == ["partner-api"]  # one start an hour
    assert q.claim(n=10) == [] and q.counts()["queued"] == 1
    with pytest.raises(InvalidField):
        sched.create(spec(payload=pay, rate_key=""))


def test_priority_maps_onto_the_engine_order(sched, q):
    pay = {"callable": "builtins:len", "args": [[]]}
    low = sched.create(spec(payload=pay, priority=9))["id"]
    high = sched.create(spec(payload=pay, priority=1))["id"]
    sched.run_now(low)
    sched.run_now(high)
    first = q.claim(n=1)[0]
    assert first.task.meta["schedule_id"] == high


def test_a_pipeline_run_is_executed_by_a_real_worker(sched, q, prefix, redis_url):
    payload = {"pipeline": [
        {"step": "echo", "name": "hello", "args": {"message": "hello from a schedule"}},
        {"step": "sleep", "args": {"seconds": 0}, "depends_on": ["hello"]},
        {"step": "echo", "name": "bye", "args": {"message": "bye"}, "depends_on": ["sleep"]},
    ]}
    sid = sched.create(spec(payload=payload, max_retries=0))["id"]
    out = sched.run_now(sid)
    ids = out["task_ids"]
    assert len(ids) == 3
    assert q.get(ids[2]).status == "blocked"  # wired with depends_on
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
    env.update(REDIS_URL=redis_url, TASKQ_PREFIX=prefix, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "taskq.cli", "worker", "--burst", "default"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    tasks = [q.get(t) for t in ids]
    assert [t.status for t in tasks] == ["completed"] * 3, [t.error for t in tasks]
    assert tasks[0].finished_at <= tasks[1].started_at and tasks[1].finished_at <= tasks[2].started_at
    assert "hello from a schedule" in [x["message"] for x in q.logs(ids[0])]
    (run,) = sched.get(sid)["recent_runs"]
    assert run["status"] == "completed" and run["ended_at"] is not None


def test_an_event_schedule_stays_active_and_untimed_through_pause_resume_and_update(sched):
    sid = sched.create(spec(schedule_kind="event", schedule_expr="deploy.done"))["id"]
    sched.pause(sid)
    view = sched.resume(sid)
    assert view["status"] == "active" and view["next_run_at"] is None
    with pytest.raises(InvalidState):
        sched.snooze(sid, 60)  # nothing timed to move
    timed = sched.update(sid, {"schedule_kind": "cron", "schedule_expr": "*/5 * * * *"})
    assert timed["status"] == "active" and timed["next_run_at"] is not None
    assert sched.redis.sismember(sched.sk.event("deploy.done"), sid) == 0
    back = sched.update(sid, {"schedule_kind": "event", "schedule_expr": "deploy.again"})
    assert back["status"] == "active" and back["next_run_at"] is None and due_ms(sched, sid) is None
    assert sched.redis.sismember(sched.sk.event("deploy.again"), sid) == 1


def test_a_finished_once_schedule_comes_back_with_a_new_time(sched, prefix):
    sid = sched.create(spec(schedule_kind="once", schedule_expr="2099-01-01T00:00:00Z"))["id"]
    sched.redis.hset(sched.sk.schedule(sid), "due", sched.now_ms() - 10)
    sched.redis.zadd(sched.sk.due, {sid: sched.now_ms() - 10})
    fire_due(sched.redis, prefix)
    assert sched.get(sid)["status"] == "finished"
    view = sched.update(sid, {"schedule_expr": "2099-06-01T00:00:00Z"})
    assert view["status"] == "active" and view["next_run_at"] == "2099-06-01T00:00:00.000Z"


def _nested(depth):
    value = cur = {}
    for _ in range(depth):
        cur["a"] = {}
        cur = cur["a"]
    return value


@pytest.mark.parametrize("payload", [
    {"pipeline": [{"step": "echo", "args": _nested(10_000)}]},
    '{"pipeline": [{"step": "echo", "args": ' + '{"a": ' * 10_000 + '1' + '}' * 10_000 + '}]}',
    {"pipeline": [{"step": "echo", "args": {"message": "\udfff"}}]},
], ids=["deep object", "deep text", "lone surrogate"])
def test_hostile_payloads_are_refused_naming_the_payload(sched, payload):
    with pytest.raises(InvalidField) as exc:
        sched.create(spec(payload=payload))
    assert exc.value.field == "payload"
