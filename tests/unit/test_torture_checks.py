"""The torture run's verdict can fail: each check, fed a store and a side
channel that show the fault it looks for, counts it (fakeredis stands in
for the store; the checks only read hashes, zsets and counters)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

fakeredis = pytest.importorskip("fakeredis")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from torture_checks import FAILING, all_ended, check, overlaps, side_channel, tracebacks  # noqa: E402

from taskq import Keys  # noqa: E402

QUEUES = ("tq_a", "tq_b")


def store(tasks: dict[str, dict], completed_count: int):
    r = fakeredis.FakeRedis(decode_responses=True)
    for tid, fields in tasks.items():
        qk = Keys().queue(tid.split(":")[0])
        r.hset(qk.task(tid), mapping=fields)
        if fields["status"] == "completed":
            r.zadd(qk.status_index("completed"), {tid: 1})
    r.hset(Keys().queue("tq_a").stats, "completed", completed_count)
    return r


def test_a_clean_run_passes_every_check(tmp_path):
    tasks = {"tq_a:1": {"status": "completed", "started": 10, "finished": 20},
             "tq_b:2": {"status": "completed", "started": 30, "finished": 40},
             "tq_a:3": {"status": "failed", "started": 5, "finished": 6}}
    producer = SimpleNamespace(expected={"tq_a:1": "completed", "tq_b:2": "completed",
                                         "tq_a:3": "failed"},
                               planned={"tq_a:1": 1, "tq_b:2": 1, "tq_a:3": 1},
                               edges=[("tq_a:1", "tq_b:2")])
    side = tmp_path / "side.txt"
    side.write_text("S tq_a:1 1 7 1.0 ck0\nE tq_a:1 1 7 2.0 ck0\n"
                    "S tq_b:2 1 8 3.0 ck0\nE tq_b:2 1 8 4.0 ck0\n")
    result = check(store(tasks, 2), producer, side, QUEUES)
    assert {k: result[k] for k in FAILING if k in result and result[k]} == {}


def test_each_fault_is_counted(tmp_path):
    far_past = 1_000  # an expiry long gone
    tasks = {"tq_a:lost": {"status": "queued"},
             "tq_a:wrong": {"status": "failed", "started": 1, "finished": 2},
             "tq_a:dep": {"status": "completed", "started": 10, "finished": 50},
             "tq_b:early": {"status": "completed", "started": 20, "finished": 60},
             "tq_b:stuck": {"status": "running", "started": 70, "expires": far_past}}
    producer = SimpleNamespace(
        expected={"tq_a:lost": "completed", "tq_a:wrong": "completed", "tq_a:dep": "completed",
                  "tq_b:early": "completed", "tq_b:stuck": "completed"},
        planned=dict.fromkeys(["tq_a:lost", "tq_a:wrong", "tq_a:dep", "tq_b:early", "tq_b:stuck"], 1),
        edges=[("tq_a:dep", "tq_b:early")])
    side = tmp_path / "side.txt"
    side.write_text("S tq_a:dep 1 7 1.0 ck0\nS tq_b:early 1 8 1.5 ck0\n"  # overlap on ck0
                    "E tq_a:dep 1 7 2.0 ck0\nE tq_b:early 1 8 3.0 ck0\n"
                    "S tq_a:wrong 1 9 4.0 -\nS tq_a:wrong 2 9 5.0 -\n")  # ran twice
    result = check(store(tasks, 3), producer, side, QUEUES)  # 3 completions, 2 completed tasks
    assert result["lost"] == 2 and set(result["lost_ids"]) == {"tq_a:lost", "tq_b:stuck"}
    assert result["unexpected_outcome"] == 1 and result["unexpected_ids"] == ["tq_a:wrong"]
    assert result["completed_twice"] == 1
    assert result["dependents_released_early"] == 1
    assert result["concurrency_overlaps"] == 1
    assert result["stuck_running_without_lease"] == 1 and result["still_running"] == 1
    assert result["bodies_ran_more_than_planned"] == 1 and result["extra_body_runs"] == 1


def test_overlaps_and_side_channel():
    assert overlaps({"k": [(0, 1), (1, 2), (2, 3)]}) == 0  # back to back is not an overlap
    assert overlaps({"k": [(0, 5), (1, 2), (3, 4)], "j": [(0, 1)]}) == 2


def test_side_channel_of_a_missing_file_is_empty(tmp_path):
    assert side_channel(tmp_path / "none.txt") == ({}, {})


def test_tracebacks_other_than_planned_failures_count():
    planned = ("Traceback (most recent call last):\n  File x\n"
               "RuntimeError: planned failure of attempt 1\n\nnext line\n")
    real = "Traceback (most recent call last):\n  File y\nredis.ConnectionError: gone\n\n"
    assert tracebacks(planned * 3) == 0
    assert tracebacks(planned + real + planned) == 1


def test_the_wait_for_the_end_reads_every_task_not_the_counts():
    # A probe task enqueued after a Redis restart is completed too: by the
    # counts the run would look finished while one of its own tasks is not.
    r = store({"tq_a:1": {"status": "completed"}, "tq_b:2": {"status": "queued"},
               "tq_a:probe": {"status": "completed"}}, 2)
    assert not all_ended(r, ["tq_a:1", "tq_b:2"])
    r.hset(Keys().queue("tq_b").task("tq_b:2"), "status", "failed")
    assert all_ended(r, ["tq_a:1", "tq_b:2"], batch=1)
    assert not all_ended(r, ["tq_a:1", "tq_b:missing"])
