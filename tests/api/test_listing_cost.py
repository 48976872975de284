"""Listing pages cost a page, not the queue: /api/tasks with a status
filter, a project's task list and a task's logs send a bounded number of
Redis commands over 20,000 tasks, and answer exactly what reading every task
and sorting in Python answers (a reference written here, on randomized data)."""

from __future__ import annotations

import json
import random
import time

import pytest
from test_taskdriver_support import ok, plain_type, project

import api.services.listing as listing
import taskq.paging
from taskq.lease import complete_many
from taskq.projects.task_types import batch_tag, type_tag
from taskq.worker_registry import WorkerRegistry

DTS_STATUS = {"pending": {"queued", "delayed", "blocked"}, "running": {"running"},
              "completed": {"completed"}, "failed": {"failed"}, "cancelled": {"cancelled"}}
TD_STATUS = {"queued": {"queued", "delayed", "blocked"}, "running": {"running"},
             "completed": {"completed"}, "failed": {"failed", "cancelled"}}
SORT_FIELDS = {"created_at": "created", "updated_at": "updated", "priority": "priority",
               "scheduled_at": "scheduled", "started_at": "started", "completed_at": "finished",
               "status": "status", "name": "meta"}


@pytest.fixture
def counted_client(make_app, counted):
    return make_app(REDIS=counted).test_client()


def fill(q, n, rng, tags=(), extra=None):
    """n tasks of mixed statuses in creation order, quickly (enqueue_many)."""
    anchor = q.enqueue_call(None, priority=-10)  # stays queued: blocked tasks wait on it
    specs = []
    for i in range(n):
        kind = rng.random()
        spec = {"priority": rng.randint(1, 10), "meta": {"name": f"task {rng.randint(0, 50)}"}}
        if tags:
            spec["tags"] = rng.sample(tags, rng.randint(0, 2))
        if kind < 0.1:
            spec["delay"] = rng.randint(60, 3600)
        elif kind < 0.15:
            spec["depends_on"] = [anchor.id]
        specs.append({**spec, **(extra(i) if extra else {})})
    for i in range(0, n, 1000):
        q.enqueue_many(specs[i:i + 1000])
    return anchor


def settle(q, rng, claims, workers=("w1", "w2", "w3")):
    """Claim some tasks (by priority) and end most of them: completed, failed, cancelled."""
    leases = []
    while len(leases) < claims:
        got = q.claim(n=min(500, claims - len(leases)), worker=rng.choice(workers))
        if not got:
            break
        leases += got
    rng.shuffle(leases)
    k = len(leases)
    done, failed, cancelled = leases[:k * 6 // 10], leases[k * 6 // 10:k * 7 // 10], leases[k * 7 // 10:k * 3 // 4]
    complete_many(q.redis, [(lease, "ok") for lease in done])
    for lease in failed:
        lease.fail("boom", retryable=False)
    for lease in cancelled:
        lease.cancelled()


def snapshot(r, q) -> dict[str, dict]:
    """Every task hash of the queue (the reference reads everything)."""
    ids = r.zrange(q.qkeys.all, 0, -1)
    pipe = r.pipeline(transaction=False)
    for tid in ids:
        pipe.hgetall(q.qkeys.task(tid))
    return {tid: h for tid, h in zip(ids, pipe.execute()) if h}


def sort_value(field, raw):
    if raw is None:
        return None
    if field == "status":
        return raw
    if field == "meta":
        name = json.loads(raw).get("name")
        return None if name is None else str(name)
    return float(raw)


def dts_reference(tasks, status=None, tag=None, sort="created_at", order="desc", page=1, limit=20):
    rows = []
    for tid, h in tasks.items():
        if status and h["status"] not in DTS_STATUS[status]:
            continue
        if tag and tag not in json.loads(h.get("tags", "[]")):
            continue
        rows.append((sort_value(SORT_FIELDS[sort], h.get(SORT_FIELDS[sort])), float(h["created"]), tid))
    desc = order == "desc"
    ordered = sorted((x for x in rows if x[0] is not None), reverse=desc) + \
        sorted((x for x in rows if x[0] is None), reverse=desc)
    start = (page - 1) * limit
    return [tid for _, _, tid in ordered[start:start + limit]], len(ordered)


def td_reference(tasks, status=None, agent=None, batch=None, type_id=None, offset=0, limit=100):
    keep = []
    for tid, h in tasks.items():
        tags = json.loads(h.get("tags", "[]"))
        if status and h["status"] not in TD_STATUS[status]:
            continue
        if agent and h.get("worker") != agent:
            continue
        if batch and batch_tag(batch) not in tags or type_id and type_tag(type_id) not in tags:
            continue
        keep.append(tid)
    keep.sort(reverse=True)
    return keep[offset:offset + limit], len(keep)


def test_pending_page_over_20k_tasks_sends_a_bounded_number_of_commands(counted_client, counted, admin,
                                                                         dts, r, keys):
    rng = random.Random(8)
    fill(dts, 20_000, rng)
    settle(dts, rng, 9_000)
    tasks = snapshot(r, dts)
    for query in ({"status": "pending"}, {"status": "pending", "page": 40},
                  {"status": "completed", "order": "asc"},
                  {"status": "failed", "sort": "completed_at"}):
        counted.counts.clear()
        resp = counted_client.get("/api/tasks", query_string={"limit": 20, **query}, headers=admin)
        assert resp.status_code == 200, resp.json
        sent = sum(counted.counts.values())
        per_task = counted.counts["HMGET"] + counted.counts["HGET"] + counted.counts["HGETALL"]
        assert sent < 100 and per_task <= 40, (query, counted.counts)
        ids, total = dts_reference(tasks, limit=20, **query)
        assert [t["id"] for t in resp.json["data"]] == ids and resp.json["meta"]["total"] == total
    # a worker's finished tasks are matched in Redis, not by one HGET per finished task
    # (the route still reads each of its own tasks, to sort them by start time)
    WorkerRegistry(r, keys).register("w2", ["dts"])
    counted.counts.clear()
    resp = counted_client.get("/api/workers/w2/tasks?limit=100", headers=admin)
    mine = {tid for tid, h in tasks.items() if h.get("worker") == "w2" and h["status"] in
            {"completed", "failed", "cancelled"}}
    assert resp.status_code == 200 and resp.json["meta"]["total"] == len(mine) > 100
    assert {t["id"] for t in resp.json["data"]} <= mine
    assert counted.counts["HGET"] + counted.counts["HMGET"] == 0 and counted.counts["EVALSHA"] < 20
    assert counted.counts["HGETALL"] <= len(mine) + 1, counted.counts  # + the worker record


def test_dts_listing_matches_reading_every_task(client, admin, dts, r, monkeypatch):
    rng = random.Random(81)
    tags = ["red", "green", "blue"]
    fill(dts, 400, rng, tags)
    settle(dts, rng, 220)
    tasks = snapshot(r, dts)
    queries = [{}] + [{"status": s} for s in DTS_STATUS] + [{"tag": t} for t in tags] + \
        [{"status": "pending", "tag": "red"}, {"status": "completed", "tag": "blue"}]
    for walk_everything in (False, True):
        if walk_everything:  # small chunks and no direct reads: the walk's paths
            monkeypatch.setattr(listing, "DIRECT_MAX", 0)
            monkeypatch.setattr(taskq.paging, "FIRST_CHUNK", 3)
            monkeypatch.setattr(taskq.paging, "MAX_CHUNK", 17)
        for query in queries:
            for sort in ("created_at", "completed_at", "priority", "name"):
                for order in ("asc", "desc"):
                    for page, limit in ((1, 20), (2, 7), (3, 100), (9, 13)):
                        q = {**query, "sort": sort, "order": order, "page": page, "limit": limit}
                        resp = client.get("/api/tasks", query_string=q, headers=admin)
                        assert resp.status_code == 200, (q, resp.json)
                        ids, total = dts_reference(tasks, **q)
                        assert [t["id"] for t in resp.json["data"]] == ids, q
                        assert resp.json["meta"]["total"] == total, q


def test_sorts_no_index_keeps_are_capped(client, admin, dts, monkeypatch):
    fill(dts, 30, random.Random(3))
    monkeypatch.setattr(listing, "SORT_CAP", 20)
    resp = client.get("/api/tasks?sort=priority", headers=admin)
    assert resp.status_code == 422 and resp.json["error"]["code"] == "sort_too_large"
    assert resp.json["error"]["details"]["cap"] == 20
    assert client.get("/api/tasks?status=running&sort=priority", headers=admin).status_code == 200
    assert client.get("/api/tasks?sort=created_at", headers=admin).status_code == 200


def test_end_time_ties_break_by_creation_as_a_full_sort_does(client, admin, dts, r):
    """Tasks finished in one call share their end ms; where ids disagree with
    creation order (ids given by the caller), the page still follows creation."""
    for i in range(30):
        dts.enqueue_call(None, task_id=f"t{99 - i:02d}")  # each call a new ms or a tie: both occur
        time.sleep(0.0005)
    complete_many(r, [(lease, None) for lease in dts.claim(n=30)])
    tasks = snapshot(r, dts)
    assert len({h["finished"] for h in tasks.values()}) == 1
    for order in ("asc", "desc"):
        for page, limit in ((1, 7), (2, 7), (4, 7), (5, 7), (1, 100)):
            q = {"status": "completed", "sort": "completed_at", "order": order, "page": page, "limit": limit}
            resp = client.get("/api/tasks", query_string=q, headers=admin)
            ids, total = dts_reference(tasks, **q)
            assert [t["id"] for t in resp.json["data"]] == ids and resp.json["meta"]["total"] == total, q


def td_project(client, admin, make_queue, n, rng):
    p = project(client, admin)
    types = [plain_type(client, admin, p["id"], name) for name in ("a", "b")]
    for i in range(0, n, 1000):
        items = [{"typeId": rng.choice(types)["id"], "instructions": f"job {j}"} for j in range(min(1000, n - i))]
        for batch in ("one", "two"):
            half = items[:len(items) // 2] if batch == "one" else items[len(items) // 2:]
            if half:
                ok(client.post(f"/api/projects/{p['id']}/tasks/bulk", json={"tasks": half, "batchId": batch},
                               headers=admin), 201)
    q = make_queue(f"td-{p['id']}")
    settle(q, rng, n // 2, workers=("agent-1", "agent-2"))
    return p, [t["id"] for t in types], q


def test_taskdriver_listing_matches_reading_every_task(client, admin, make_queue, r, monkeypatch):
    rng = random.Random(82)
    p, types, q = td_project(client, admin, make_queue, 300, rng)
    tasks = snapshot(r, q)
    url = f"/api/projects/{p['id']}/tasks"
    filters = [{}, {"status": "queued"}, {"status": "failed"}, {"status": "running"},
               {"agent": "agent-1"}, {"agent": "agent-2", "status": "completed"},
               {"batch": "one"}, {"type_id": types[0]}, {"batch": "two", "type_id": types[1]},
               {"batch": "one", "status": "queued"}, {"type_id": types[0], "agent": "agent-1"}]
    names = {"agent": "assignedTo", "batch": "batchId", "type_id": "typeId", "status": "status"}
    for walk_everything in (False, True):
        if walk_everything:
            monkeypatch.setattr(listing, "DIRECT_MAX", 0)
            monkeypatch.setattr(taskq.paging, "FIRST_CHUNK", 3)
            monkeypatch.setattr(taskq.paging, "MAX_CHUNK", 17)
        for f in filters:
            for offset, limit in ((0, 100), (5, 10), (120, 1000), (299, 3)):
                query = {names[k]: v for k, v in f.items()} | {"offset": offset, "limit": limit}
                resp = client.get(url, query_string=query, headers=admin)
                assert resp.status_code == 200, (query, resp.json)
                ids, total = td_reference(tasks, offset=offset, limit=limit, **f)
                assert [t["id"] for t in resp.json["data"]] == ids, query
                assert resp.json["meta"]["total"] == total, query


def test_taskdriver_status_page_over_20k_tasks_is_bounded(counted_client, counted, admin, make_queue, r,
                                                          monkeypatch):
    rng = random.Random(83)
    p, types, q = td_project(counted_client, admin, make_queue, 20_000, rng)
    tasks = snapshot(r, q)
    url = f"/api/projects/{p['id']}/tasks"
    for query in ({"status": "queued", "limit": 50}, {"batchId": "two", "offset": 300, "limit": 20},
                  {"status": "completed", "limit": 10}):
        counted.counts.clear()
        resp = counted_client.get(url, query_string=query, headers=admin)
        assert resp.status_code == 200, resp.json
        assert sum(counted.counts.values()) < 150, (query, counted.counts)
        ids, total = td_reference(tasks, status=query.get("status"), batch=query.get("batchId"),
                                  offset=query.get("offset", 0), limit=query["limit"])
        assert [t["id"] for t in resp.json["data"]] == ids and resp.json["meta"]["total"] == total
    # an agent's tasks have no index: counted in Redis, in a bounded number of calls, and capped
    counted.counts.clear()
    resp = counted_client.get(url, query_string={"assignedTo": "agent-1", "limit": 5}, headers=admin)
    assert resp.status_code == 200 and sum(counted.counts.values()) < 150, counted.counts
    ids, total = td_reference(tasks, agent="agent-1", limit=5)
    assert [t["id"] for t in resp.json["data"]] == ids and resp.json["meta"]["total"] == total
    monkeypatch.setattr(listing, "WALK_CAP", 1000)
    resp = counted_client.get(url, query_string={"assignedTo": "agent-1"}, headers=admin)
    assert resp.status_code == 422 and resp.json["code"] == "filter_too_large"


def test_logs_page_with_lrange_and_filter_with_a_bounded_scan(counted_client, counted, admin, dts):
    t = dts.enqueue_call(None)
    [lease] = dts.claim()
    rng = random.Random(84)
    lines = [(rng.choice(["debug", "info", "warn", "error"]), f"line {i}") for i in range(1000)]
    for i in range(0, 1000, 250):
        lease.log_many(lines[i:i + 250])
    url = f"/api/tasks/{t.id}/logs"
    for query in ({}, {"offset": 990}, {"limit": 5, "offset": 400}, {"level": "error"},
                  {"level": "warn", "offset": 100, "limit": 7}, {"level": "debug", "offset": 5000}):
        counted.counts.clear()
        resp = counted_client.get(url, query_string=query, headers=admin)
        assert resp.status_code == 200, resp.json
        matching = [m for lv, m in lines if lv == query.get("level", lv)]
        off, lim = query.get("offset", 0), query.get("limit", 100)
        assert [x["message"] for x in resp.json["data"]] == matching[off:off + lim], query
        assert resp.json["meta"]["total"] == len(matching)
        if "level" in query:  # a bounded scan of the whole (trimmed) log
            assert counted.counts["LRANGE"] <= 3 and counted.counts["lines asked"] <= 1500
        else:                 # just the page
            assert counted.counts["LRANGE"] == 1 and counted.counts["lines asked"] == lim
    assert counted_client.get(f"/api/tasks/{dts.name}:nope/logs", headers=admin).status_code == 404
