"""Workflow outcomes and step facts, counted once, and the analytics read
from them: numbers checked against runs whose durations and failures the
test sets, the histogram's documented precision, racing sweepers, and a
real worker's step facts."""

from __future__ import annotations

import math
import threading
import time

import pytest

from taskq import maintenance
from taskq.keys import WorkflowKeys
from taskq.options import InvalidField
from taskq.workflows import bottlenecks, create, get, list_workflows, performance
from taskq.workflows import histogram, sweep as sweep_mod
from taskq.workflows.outcomes import record_step, redis_ms
from taskq.workflows.sweep import sweep

from test_workflows_engine import S, reg_with, run_until_done  # noqa: E402  (same folder)
from workflow_drive import complete, fail, lost_follow_ups, registry, retry_now, set_duration


def test_histogram_estimates_stay_within_the_documented_error():
    for d in [1, 2, 3, 7, 99, 100, 101, 1000, 1024, 4095, 42_000, 3_600_000, 86_400_000]:
        est = histogram.midpoint(histogram.bucket(d))
        assert abs(est - d) / d <= histogram.RELATIVE_ERROR + 1e-12, d
    assert histogram.bucket(0) == 0 and histogram.bucket(0.5) == 0
    assert histogram.bucket(10 ** 12) == histogram.MAX_BUCKET
    assert histogram.percentile({}, 0.5) is None
    assert histogram.percentile({histogram.bucket(100): 9, histogram.bucket(5000): 1}, 0.9) == 99
    assert histogram.percentile({histogram.bucket(100): 9, histogram.bucket(5000): 1}, 0.91) == 5312


def test_no_data_says_so_with_nulls_and_zeros(r, prefix):
    doc = performance(r, prefix=prefix)
    assert doc["data_available"] is False and doc["system_health_score"] is None
    assert doc["processing_times"] == {"p50": None, "p95": None, "p99": None}
    assert doc["performance_trends"]["24h"] == {"completion_rate": None, "avg_duration_ms": None,
                                                "finished": 0}
    assert doc["task_statistics"] == {"total_tasks": 0, "completed": 0, "failed": 0, "retried": 0,
                                      "cancelled": 0}
    b = bottlenecks(r, prefix=prefix)
    assert b == {"analysis_period": "24 hours", "scope": {}, "slowest_tasks": [],
                 "slowest_steps": [], "error_patterns": [], "recommendations": [],
                 "data_available": False}


def finish_known_run(r, prefix):
    """Ten shop.pay workflows taking 5 x 100 ms, 4 x 1000 ms and 1 x 60 s;
    eight complete (the first after a retried attempt), the last two in error;
    their follow-ups lost, so that the sweep records them, durations set."""
    reg = registry()
    durations = [100] * 5 + [1000] * 4 + [60_000]
    outcomes = ["complete"] * 8 + ["error"] * 2
    wfs = []
    for i, (d, outcome) in enumerate(zip(durations, outcomes)):
        wf = create(r, "shop.pay", registry=reg, prefix=prefix)
        if i == 0:  # one retried attempt, then success
            assert fail(r, prefix, wf, "charge", retryable=True) == "retrying"
            retry_now(r, prefix, wf, "charge")
        with lost_follow_ups():
            if outcome == "complete":
                complete(r, prefix, wf)
            else:
                assert fail(r, prefix, wf, "charge") == "failed"
        set_duration(r, prefix, wf, d)
        wfs.append(wf)
    return wfs, durations


def test_performance_numbers_match_a_known_run(r, prefix):
    wfs, durations = finish_known_run(r, prefix)
    assert sweep(r, prefix)["recorded"] == 10
    doc = performance(r, now=time.time(), prefix=prefix)
    assert doc["task_statistics"] == {"total_tasks": 10, "completed": 8, "failed": 2,
                                      "retried": 1, "cancelled": 0}
    day = doc["performance_trends"]["24h"]
    assert day == {"completion_rate": 0.8, "avg_duration_ms": round(sum(durations) / 10),
                   "finished": 10}
    assert doc["performance_trends"]["4h"] == day
    # nearest rank over the histogram: p50 is the 5th (100 ms), p95 and p99 the 10th (60 s),
    # each reported as its bucket's geometric midpoint
    assert doc["processing_times"] == {"p50": 99, "p95": 60097, "p99": 60097}
    assert abs(60097 - 60_000) / 60_000 < histogram.RELATIVE_ERROR
    assert doc["system_health_score"] == round(100 * 0.8 * (1 - 0.25 * 0.1), 1) == 78.0
    assert doc["data_available"] is True
    # the record says so too, and a second sweep counts nothing
    assert get(r, wfs[0]["id"], prefix=prefix)["status"] == "complete"
    assert r.hget(WorkflowKeys(prefix).workflow(wfs[-1]["id"]), "outcome") == "error"
    r.zadd(WorkflowKeys(prefix).check, {w["id"]: 0 for w in wfs})  # even if asked to look again
    assert sweep(r, prefix)["recorded"] == 0
    assert performance(r, now=time.time(), prefix=prefix)["task_statistics"]["completed"] == 8


def test_bottlenecks_from_step_facts(r, prefix):
    reg = registry()
    pay = create(r, "shop.pay", registry=reg, prefix=prefix)
    audit = create(r, "back.audit", registry=reg, prefix=prefix)
    wk = WorkflowKeys(prefix)
    now = redis_ms(r)
    for attempt, (ms, err) in enumerate([(1000, None)] * 4 + [(40_000, "NetworkTimeoutError"),
                                                              (42_000, None)], start=1):
        assert record_step(r, wk, pay["id"], "charge", attempt, now, ms, err, 30.0)
    assert not record_step(r, wk, pay["id"], "charge", 6, now, 42_000, None, 30.0)  # once
    assert record_step(r, wk, audit["id"], "check", 1, now, 5, "KeyError",
                       None)
    doc = bottlenecks(r, namespace="shop", period_hours=1, now=now / 1000, prefix=prefix)
    assert doc["analysis_period"] == "1 hour" and doc["scope"] == {"namespace": "shop"}
    assert doc["slowest_steps"] == [{
        "step_name": "charge", "task_name": "pay", "namespace": "shop", "version": "1.0.0",
        "avg_duration_ms": round((4000 + 40_000 + 42_000) / 6), "p95_ms": 42495,
        "execution_count": 6, "retry_rate": round(5 / 6, 4), "error_rate": round(1 / 6, 4)}]
    assert doc["error_patterns"] == [{"error_type": "NetworkTimeoutError", "frequency": 1,
                                      "affected_steps": ["charge"]}]
    timeout, retry = doc["recommendations"]
    assert timeout == {"type": "timeout_optimization", "step": "charge", "task_name": "pay",
                       "current_timeout": 30, "suggested_timeout": 55,
                       "rationale": "95th percentile execution time is 42.5s"}
    assert retry["type"] == "retry_policy_review" and retry["retry_rate"] == round(5 / 6, 4)
    assert doc["slowest_tasks"] == []  # no shop workflow finished yet
    every = bottlenecks(r, period_hours=1, now=now / 1000, prefix=prefix)
    assert {p["error_type"] for p in every["error_patterns"]} == {"NetworkTimeoutError", "KeyError"}
    assert bottlenecks(r, namespace="ghost", period_hours=1, now=now / 1000,
                       prefix=prefix)["data_available"] is False
    # an hour later the one-hour window no longer holds them; 24 hours still does
    later = now / 1000 + 3600
    assert bottlenecks(r, period_hours=1, now=later, prefix=prefix)["slowest_steps"] == []
    assert len(bottlenecks(r, period_hours=24, now=later, prefix=prefix)["slowest_steps"]) == 2


def test_slowest_tasks_and_failure_rate(r, prefix):
    finish_known_run(r, prefix)
    reg = registry()
    ship = create(r, "shop.ship", registry=reg, prefix=prefix)
    with lost_follow_ups():  # the sweep records it, with the duration set here
        complete(r, prefix, ship)
    set_duration(r, prefix, ship, 90_000)
    sweep(r, prefix)
    doc = bottlenecks(r, namespace="shop", prefix=prefix)
    assert [(t["task_name"], t["execution_count"], t["failure_rate"], t["avg_duration_ms"])
            for t in doc["slowest_tasks"]] == [("ship", 1, 0.0, 90_000), ("pay", 10, 0.2, 6450)]
    assert bottlenecks(r, namespace="shop", name="pay", version="2.0.0",
                       prefix=prefix)["slowest_tasks"] == []


@pytest.mark.parametrize("period", [0, 169, -1, 10 ** 30, 1.5, "24", True, None])
def test_periods_out_of_range_are_refused(r, prefix, period):
    with pytest.raises(InvalidField, match="period"):
        bottlenecks(r, period_hours=period, prefix=prefix)


@pytest.mark.parametrize("field, value", [("namespace", "Bad Name"), ("name", "x" * 65),
                                          ("version", "1.0"), ("namespace", "\ud800")])
def test_malformed_scopes_are_refused(r, prefix, field, value):
    with pytest.raises(InvalidField, match=field):
        bottlenecks(r, prefix=prefix, **{field: value})


def test_racing_sweepers_and_readers_record_each_outcome_once(r, prefix):
    reg = registry()
    wfs = [create(r, "shop.pay", registry=reg, prefix=prefix) for _ in range(40)]
    for wf in wfs[:30]:
        complete(r, prefix, wf)
    for wf in wfs[30:35]:
        fail(r, prefix, wf, "charge")
    start = threading.Barrier(8)
    errors = []

    def racer(i):
        try:
            start.wait()
            for _ in range(3):
                if i % 2:
                    sweep(r, prefix)
                else:
                    list_workflows(r, status="complete", prefix=prefix)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stats = performance(r, prefix=prefix)["task_statistics"]
    assert (stats["completed"], stats["failed"], stats["total_tasks"]) == (30, 5, 40)
    wk = WorkflowKeys(prefix)
    assert r.zcard(wk.scoped("complete", "*")) == 30 and r.zcard(wk.scoped("error", "ns=shop")) == 5
    assert r.zcard(wk.scoped("pending", "*")) == 5 and r.zcard(wk.check) == 5
    assert r.zcard(wk.ended) == 35


def test_sweep_rechecks_open_workflows_later_and_is_bounded(r, prefix, monkeypatch):
    monkeypatch.setattr(sweep_mod, "SWEEP_BATCH", 3)
    reg = registry()
    wfs = [create(r, "shop.pay", registry=reg, prefix=prefix) for _ in range(5)]
    now = redis_ms(r) + 10
    assert sweep(r, prefix, now_ms=now)["looked"] == 3
    assert sweep(r, prefix, now_ms=now)["looked"] == 2  # the first three wait for their recheck
    assert sweep(r, prefix, now_ms=now)["looked"] == 0
    with lost_follow_ups():  # left to the sweep
        complete(r, prefix, wfs[0])
    # all five are due again a second later, three a tick (equal check times: any three first)
    ticks = [sweep(r, prefix, now_ms=now + 1000) for _ in range(2)]
    assert [t["looked"] for t in ticks] == [3, 2] and sum(t["recorded"] for t in ticks) == 1


def test_pruning_deletes_old_finished_workflows_in_batches(r, prefix, monkeypatch):
    monkeypatch.setattr(sweep_mod, "PRUNE_BATCH", 2)
    reg = registry()
    done = [create(r, "shop.pay", registry=reg, prefix=prefix) for _ in range(3)]
    for wf in done:
        complete(r, prefix, wf)
    running = create(r, "shop.ship", registry=reg, prefix=prefix)
    sweep(r, prefix)
    wk = WorkflowKeys(prefix)
    week = 7 * 24 * 3600 * 1000
    later = redis_ms(r) + week + 60_000
    assert sweep(r, prefix, now_ms=redis_ms(r))["pruned"] == 0  # not old yet
    assert sweep(r, prefix, now_ms=later)["pruned"] == 2
    assert sweep(r, prefix, now_ms=later)["pruned"] == 1
    for wf in done:
        assert not r.exists(wk.workflow(wf["id"]))
    index_keys = [k for k in r.scan_iter(f"{prefix}:{{wf}}:ix:*")]
    assert all(r.zrange(k, 0, -1) == [running["id"]] for k in index_keys)
    assert r.zcard(wk.ended) == 0
    assert list_workflows(r, prefix=prefix)[1] == 1
    assert get(r, running["id"], prefix=prefix)["status"] == "pending"
    # a shorter retention prunes sooner
    complete(r, prefix, running)
    assert sweep(r, prefix, retention=1, now_ms=later + 120_000)["pruned"] == 1


def test_retention_setting(monkeypatch):
    assert sweep_mod.retention_seconds({}) == 7 * 24 * 3600
    assert sweep_mod.retention_seconds({"TASKQ_WORKFLOW_RETENTION": "3600"}) == 3600
    for bad in ("abc", "0", "-5", "1e99", "nan"):
        with pytest.raises(ValueError, match="TASKQ_WORKFLOW_RETENTION"):
            sweep_mod.retention_seconds({"TASKQ_WORKFLOW_RETENTION": bad})


def test_the_scheduler_runs_the_sweep():
    import workers.upkeep  # noqa: F401  (what `taskq scheduler` imports)
    assert sweep_mod.upkeep in maintenance.UPKEEP


def test_a_real_worker_counts_step_attempts_and_error_types(r, prefix, redis_url):
    steps = [{"name": "source", "handler_class": f"{S}.flaky"},
             {"name": "later", "handler_class": f"{S}.broken", "depends_on_step": "source",
              "default_retryable": False}]
    reg = reg_with(*steps, name="fragile")
    from taskq.workflows import publish
    publish(r, reg, prefix=prefix)
    wf = create(r, "test.fragile", registry=reg, prefix=prefix)
    wf = run_until_done(r, redis_url, prefix, wf["id"])
    assert wf["status"] == "error"
    sweep(r, prefix)
    doc = bottlenecks(r, namespace="test", prefix=prefix)
    by_step = {s["step_name"]: s for s in doc["slowest_steps"]}
    assert by_step["source"]["execution_count"] == 2 and by_step["source"]["retry_rate"] == 0.5
    assert by_step["source"]["error_rate"] == 0.5
    assert by_step["later"]["execution_count"] == 1 and by_step["later"]["error_rate"] == 1.0
    assert {p["error_type"]: (p["frequency"], p["affected_steps"]) for p in doc["error_patterns"]} \
        == {"ConnectionError": (1, ["source"]), "ValueError": (1, ["later"])}
    assert [(t["task_name"], t["execution_count"], t["failure_rate"])
            for t in doc["slowest_tasks"]] == [("fragile", 1, 1.0)]
    assert performance(r, prefix=prefix)["task_statistics"]["retried"] == 1
    assert math.isclose(performance(r, prefix=prefix)["performance_trends"]["24h"]["completion_rate"], 0.0)


def test_trend_windows_slide_to_the_minute(r, prefix):
    finish_known_run(r, prefix)
    assert sweep(r, prefix)["recorded"] == 10
    done_ms = redis_ms(r)
    # just into the next clock hour: the last 60 minutes still hold the run
    # (unless it finished in the first minute of its hour)
    next_hour = (done_ms // 3_600_000 + 1) * 3_600_000
    if next_hour - done_ms < 3_540_000:
        early = performance(r, now=(next_hour + 1000) / 1000, prefix=prefix)["performance_trends"]
        assert early["1h"]["finished"] == 10 and early["1h"]["completion_rate"] == 0.8
    now = done_ms / 1000
    later = performance(r, now=now + 61 * 60, prefix=prefix)["performance_trends"]
    assert later["1h"]["finished"] == 0 and later["1h"]["completion_rate"] is None
    assert later["4h"]["finished"] == later["24h"]["finished"] == 10
    day_later = performance(r, now=now + 24 * 3600 + 120, prefix=prefix)
    assert day_later["performance_trends"]["24h"]["finished"] == 0
    assert day_later["system_health_score"] is None
