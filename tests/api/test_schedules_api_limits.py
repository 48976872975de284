"""What /tasks refuses so that no scheduled task costs without bound or
can never run: expressions (rrule, cron) whose runs cannot be found at a
small cost, event tasks that could never fire, pipeline steps given
arguments they do not take (422 naming the field, one at a time); and what
it accepts at once that used to tie up the request. Against a real Redis;
CPU is measured with time.process_time and generous bounds (the machine is
shared)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from schedules_api_helpers import READ, WRITE, at, create, field_error, spec

from taskq.schedules import fire_due

REQUEST_CPU = 1.0
"""CPU seconds a whole request (Flask, Redis round trips and all) stays
under here; the next-run computation itself is about 20 ms at worst."""


def dtstart(delta: timedelta) -> str:
    return f"{datetime.now(timezone.utc) - delta:%Y%m%dT%H%M%S}"


def timed_post(client, **over):
    started = time.process_time()
    rv = client.post("/tasks", json=spec(**over), headers=WRITE)
    return rv, time.process_time() - started


# -- rrule --------------------------------------------------------------------------

@pytest.mark.parametrize("start", ["20000101T000000", "00010101T000000", "six-days-back"])
def test_an_every_second_rrule_started_long_ago_is_created_at_once(client, start):
    start = dtstart(timedelta(days=6)) if start == "six-days-back" else start
    rv, cpu = timed_post(client, schedule_kind="rrule",
                         schedule_expr=f"DTSTART:{start}\nRRULE:FREQ=SECONDLY")
    assert rv.status_code == 201, rv.json
    assert cpu < REQUEST_CPU
    now = datetime.now(timezone.utc)
    assert now - timedelta(seconds=2) < at(rv.json["data"]["next_run_at"]) <= now + timedelta(seconds=2)


def test_its_fires_are_cheap_too(client, r, prefix):
    task = create(client, schedule_kind="rrule", schedule_expr="DTSTART:20000101T000000\nRRULE:FREQ=SECONDLY")
    for _ in range(3):
        deadline = time.monotonic() + 10
        while at(client.get(f"/tasks/{task['id']}", headers=READ).json["data"]["next_run_at"]) > \
                datetime.now(timezone.utc):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        started = time.process_time()
        counts = fire_due(r, prefix)
        assert time.process_time() - started < REQUEST_CPU
        assert counts["fired"] == 1
    assert client.get(f"/tasks/{task['id']}", headers=READ).json["data"]["runs_total"] == 3


@pytest.mark.parametrize("expr,says", [
    ("RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "budget"),
    ("DTSTART:00010101T000000\nRRULE:FREQ=SECONDLY;BYMONTH=4;BYMONTHDAY=31", "budget"),
    ("DTSTART:20000101T000000\nRRULE:FREQ=SECONDLY;UNTIL=20000102T000000", "no run after now"),
    ("RRULE:FREQ=DAILY;COUNT=100000", "COUNT must be 1..1000"),
    ("RRULE:FREQ=YEARLY;INTERVAL=100000", "INTERVAL must be"),
    ("RRULE:FREQ=DAILY\nEXRULE:FREQ=WEEKLY", "EXRULE"),
    ("RRULE:FREQ=SECONDLY;INTERVAL=7;BYHOUR=9", "divides 60"),
    ("RRULE:FREQ=YEARLY;BYEASTER=1000", "BYEASTER"),
])
def test_an_rrule_that_cannot_be_evaluated_cheaply_is_refused_at_once(client, expr, says):
    rv, cpu = timed_post(client, schedule_kind="rrule", schedule_expr=expr)
    field_error(rv, "schedule_expr")
    assert says in rv.json["validationDetails"][0]["message"]
    assert cpu < REQUEST_CPU
    assert client.get("/tasks", headers=READ).json["meta"]["total"] == 0


def test_put_refuses_them_too_and_keeps_the_task(client):
    task = create(client)
    for expr in ("RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "RRULE:FREQ=DAILY;COUNT=100000"):
        rv = client.put(f"/tasks/{task['id']}", json={"schedule_kind": "rrule", "schedule_expr": expr},
                        headers=WRITE)
        field_error(rv, "schedule_expr")
    kept = client.get(f"/tasks/{task['id']}", headers=READ).json["data"]
    assert (kept["schedule_kind"], kept["schedule_expr"], kept["next_run_at"]) == \
        (task["schedule_kind"], task["schedule_expr"], task["next_run_at"])


# -- cron ---------------------------------------------------------------------------

NEVER_CRON = ["0 0 30 2 *", "0 0 31 4 *", "0 0 1 1 * 0 2020", "0 0 31 2,4,6,9,11 *"]


@pytest.mark.parametrize("expr", NEVER_CRON)
def test_a_cron_that_never_fires_is_422_on_post(client, expr):
    rv, cpu = timed_post(client, schedule_expr=expr)
    field_error(rv, "schedule_expr")
    assert "no run after now" in rv.json["validationDetails"][0]["message"]
    assert cpu < REQUEST_CPU


@pytest.mark.parametrize("expr", NEVER_CRON)
def test_a_cron_that_never_fires_is_422_on_put_and_the_task_is_kept(client, expr):
    task = create(client, schedule_expr="*/5 * * * *")
    field_error(client.put(f"/tasks/{task['id']}", json={"schedule_expr": expr}, headers=WRITE),
                "schedule_expr")
    kept = client.get(f"/tasks/{task['id']}", headers=READ).json["data"]
    assert kept["schedule_expr"] == "*/5 * * * *" and kept["next_run_at"] == task["next_run_at"]


def test_a_cron_firing_in_some_years_is_accepted(client):
    task = create(client, schedule_expr="0 0 29 2 *")
    assert at(task["next_run_at"]).strftime("%m-%d") == "02-29"


# -- event tasks ----------------------------------------------------------------------

@pytest.mark.parametrize("title", ["Nightly report", "a/b", "x" * 129, "naïve"])
def test_an_event_task_whose_title_is_no_event_name_needs_schedule_expr(client, title):
    field_error(client.post("/tasks", json=spec(schedule_kind="event", schedule_expr=..., title=title),
                            headers=WRITE), "schedule_expr")
    task = create(client, schedule_kind="event", schedule_expr="report.nightly", title=title)
    assert task["event"] == "report.nightly"


def test_put_cannot_make_an_event_task_unfireable(client):
    task = create(client, schedule_kind="event", schedule_expr=..., title="nightly.report")
    assert task["event"] == "nightly.report"
    field_error(client.put(f"/tasks/{task['id']}", json={"title": "Nightly report"}, headers=WRITE),
                "schedule_expr")
    renamed = client.put(f"/tasks/{task['id']}", json={"title": "Nightly report", "schedule_expr": "nightly"},
                         headers=WRITE)
    assert renamed.status_code == 200 and renamed.json["data"]["event"] == "nightly"
    field_error(client.put(f"/tasks/{task['id']}", json={"schedule_expr": None}, headers=WRITE),
                "schedule_expr")


# -- pipeline step arguments ------------------------------------------------------------

BAD_ARGS = [
    ([{"step": "echo", "args": {"bogus": 1}}], 0, "unexpected keyword argument 'bogus'"),
    ([{"step": "echo", "args": {"message": 5}}], 0, "message must be a string"),
    ([{"step": "sleep", "args": {"seconds": -1}}], 0, "seconds must be a number from 0 to 3600"),
    ([{"step": "sleep", "args": {"seconds": 3601}}], 0, "from 0 to 3600"),
    ([{"step": "sleep", "args": {"seconds": "1"}}], 0, "must be a number"),
    ([{"step": "sleep", "args": {"seconds": True}}], 0, "must be a number"),
    ([{"step": "sleep", "args": {"seconds": 1e308}}], 0, "from 0 to 3600"),
    ([{"step": "echo"}, {"step": "sleep", "args": {"seconds": 1, "extra": 2}}], 1,
     "unexpected keyword argument 'extra'"),
]


@pytest.mark.parametrize("pipeline,index,says", BAD_ARGS)
def test_step_arguments_a_step_does_not_take_are_refused_naming_the_step(client, pipeline, index, says):
    rv = client.post("/tasks", json=spec(payload={"pipeline": pipeline}), headers=WRITE)
    field_error(rv, f"payload.pipeline[{index}].args")
    assert says in rv.json["validationDetails"][0]["message"]
    task = create(client)
    field_error(client.put(f"/tasks/{task['id']}", json={"payload": {"pipeline": pipeline}}, headers=WRITE),
                f"payload.pipeline[{index}].args")


def test_arguments_a_step_takes_are_accepted(client):
    task = create(client, payload={"pipeline": [{"step": "echo", "args": {"message": "hi"}},
                                                {"step": "sleep", "args": {"seconds": 0.5}},
                                                {"step": "sleep", "name": "longest", "args": {"seconds": 3600}},
                                                {"step": "echo", "name": "bare"}]})
    assert len(task["payload"]["pipeline"]) == 4
