"""The scheduled-tasks dialect (/tasks) against a real Redis: creation,
the document's validation table row by row, hostile input, listing,
updates and transitions through HTTP (events, auth and headers:
test_schedules_api_events_access.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from schedules_api_helpers import (AGENT, DOCUMENT_FIELDS, MISSING, OTHER_AGENT, READ, WRITE,
                                   at, create, field_error, future_iso, spec)

from taskq import Queue

# -- create ----------------------------------------------------------------------

def test_create_answers_201_with_every_field_the_first_run_and_no_runs(client):
    rv = client.post("/tasks", json=spec(timezone="Europe/Chisinau", priority=2, dedupe_key="k",
                                         dedupe_window_seconds=60, concurrency_key="c"), headers=WRITE)
    assert rv.status_code == 201
    assert set(rv.json) == {"success", "data"}
    task = rv.json["data"]
    for name in DOCUMENT_FIELDS:
        assert name in task
    assert task["status"] == "active" and task["priority"] == 2 and task["timezone"] == "Europe/Chisinau"
    assert task["max_retries"] == 3 and task["backoff_strategy"] == "exponential_jitter"
    assert task["payload"] == spec()["payload"]
    nxt = at(task["next_run_at"])
    assert nxt.minute == 0 and nxt.second == 0 and nxt > datetime.now().astimezone()
    assert task["recent_runs"] == [] and task["runs_total"] == 0
    assert client.get(f"/tasks/{task['id']}", headers=READ).json["data"] == task


def test_defaults_of_the_document(client):
    body = spec()
    del body["timezone"]
    rv = client.post("/tasks", json=body, headers=WRITE)
    task = rv.json["data"]
    assert (task["timezone"], task["priority"], task["max_retries"], task["backoff_strategy"]) == \
        ("UTC", 5, 3, "exponential_jitter")


@pytest.mark.parametrize("over", [
    {"schedule_kind": "rrule", "schedule_expr": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0"},
    {"schedule_kind": "once", "schedule_expr": future_iso()},
    {"schedule_kind": "event", "schedule_expr": ...},
    {"schedule_kind": "event", "schedule_expr": "invoice.paid"},
    {"priority": 1}, {"priority": 9},
    {"payload": {"pipeline": [{"step": "echo"}, {"step": "sleep", "args": {"seconds": 0},
                                                "depends_on": ["echo"]}]}},
], ids=["rrule", "once", "event-without-expr", "event", "priority-1", "priority-9", "pipeline"])
def test_valid_rows_are_created(client, over):
    task = create(client, **over)
    if task["schedule_kind"] == "event":
        assert task["next_run_at"] is None and task["event"] == (over["schedule_expr"]
                                                                  if over["schedule_expr"] is not ... else "nightly")
    else:
        assert task["next_run_at"] is not None


VALIDATION_TABLE = [
    ({"title": ...}, "title"),
    ({"title": ""}, "title"),
    ({"title": 5}, "title"),
    ({"description": ...}, "description"),
    ({"description": ["x"]}, "description"),
    ({"schedule_kind": ...}, "schedule_kind"),
    ({"schedule_kind": "weekly"}, "schedule_kind"),
    ({"schedule_expr": ...}, "schedule_expr"),
    ({"schedule_kind": "rrule", "schedule_expr": ...}, "schedule_expr"),
    ({"schedule_kind": "once", "schedule_expr": ...}, "schedule_expr"),
    ({"schedule_expr": "61 * * * *"}, "schedule_expr"),
    ({"schedule_expr": 5}, "schedule_expr"),
    ({"schedule_kind": "rrule", "schedule_expr": "FREQ=SOMETIMES"}, "schedule_expr"),
    ({"schedule_kind": "once", "schedule_expr": "tomorrow at nine"}, "schedule_expr"),
    ({"schedule_kind": "once", "schedule_expr": "2001-01-01T00:00:00"}, "schedule_expr"),
    ({"schedule_kind": "event", "schedule_expr": "no spaces allowed"}, "schedule_expr"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": 3}, "timezone"),
    ({"payload": ...}, "payload"),
    ({"payload": []}, "payload"),
    ({"payload": '{"pipeline": [{"step": "echo"}]}'}, "payload"),
    ({"payload": {"pipeline": []}}, "payload.pipeline"),
    ({"payload": {"pipeline": [{"step": "no-such-step"}]}}, "payload.pipeline[0].step"),
    ({"payload": {"pipeline": [{"step": "echo", "depends_on": ["later"]}]}},
     "payload.pipeline[0].depends_on"),
    ({"payload": {"pipeline": [{"step": "echo"}], "extra": 1}}, "payload.extra"),
    ({"created_by": ...}, "created_by"),
    ({"created_by": "agent-7"}, "created_by"),
    ({"created_by": 12345}, "created_by"),
    ({"priority": 0}, "priority"),
    ({"priority": 10}, "priority"),
    ({"priority": "5"}, "priority"),
    ({"priority": 5.5}, "priority"),
    ({"priority": True}, "priority"),
    ({"priority": 1e308}, "priority"),
    ({"max_retries": -1}, "max_retries"),
    ({"max_retries": "3"}, "max_retries"),
    ({"backoff_strategy": "random"}, "backoff_strategy"),
    ({"dedupe_key": "k"}, "dedupe_window_seconds"),
    ({"dedupe_key": "k", "dedupe_window_seconds": 0}, "dedupe_window_seconds"),
    ({"dedupe_key": 7, "dedupe_window_seconds": 60}, "dedupe_key"),
    ({"concurrency_key": ""}, "concurrency_key"),
    ({"colour": "blue"}, "colour"),
]


@pytest.mark.parametrize("over,field", VALIDATION_TABLE,
                         ids=[f"{f}-{i}" for i, (_, f) in enumerate(VALIDATION_TABLE)])
def test_validation_table_row_by_row(client, over, field):
    field_error(client.post("/tasks", json=spec(**over), headers=WRITE), field)


def test_nothing_is_stored_when_refused(client):
    client.post("/tasks", json=spec(priority=0), headers=WRITE)
    assert client.get("/tasks", headers=READ).json["meta"]["total"] == 0


@pytest.mark.parametrize("payload,field", [
    ({"callable": "os:system", "args": ["id"]}, "payload.callable"),
    ({"pipeline": [{"step": "subprocess:run", "args": {"args": ["id"]}}]}, "payload.pipeline[0].step"),
    ({"pipeline": [{"step": "echo"}, {"step": "shutil:rmtree", "depends_on": ["echo"]}]},
     "payload.pipeline[1].step"),
])
def test_importable_functions_are_refused_over_http_by_default(client, payload, field):
    field_error(client.post("/tasks", json=spec(payload=payload), headers=WRITE), field)


def test_the_operator_allow_list_admits_named_functions_only(make_app):
    client = make_app(TASKQ_SCHEDULE_FUNCTIONS="reports.jobs:build, billing:*").test_client()
    for payload in ({"callable": "reports.jobs:build"}, {"callable": "billing:charge"},
                    {"pipeline": [{"step": "billing:invoice", "name": "invoice"}]}):
        assert client.post("/tasks", json=spec(payload=payload), headers=WRITE).status_code == 201
    field_error(client.post("/tasks", json=spec(payload={"callable": "reports.jobs:drop"}),
                            headers=WRITE), "payload.callable")


def test_runs_cannot_target_a_taskdriver_projects_queue(client):
    field_error(client.post("/tasks", json=spec(queue=f"td-{AGENT}"), headers=WRITE), "queue")
    assert create(client, queue="reports")["queue"] == "reports"


# -- malformed and hostile bodies ------------------------------------------------

@pytest.mark.parametrize("data,code", [
    ("{not json", "invalid_json"),
    ('{"title": "t",}', "invalid_json"),
    ("[1, 2]", "invalid_body"),
    ('"a string"', "invalid_body"),
    ("42", "invalid_body"),
    ("null", "invalid_body"),
    ("", "invalid_body"),
    ('{"priority": NaN}', "invalid_json"),
    ('{"priority": Infinity}', "invalid_json"),
    ('{"priority": ' + "9" * 5000 + "}", "invalid_json"),
    ("[" * 10_000 + "]" * 10_000, "invalid_json"),
    ('{"payload": ' + '{"a": ' * 10_000 + "1" + "}" * 10_001, "invalid_json"),
])
def test_malformed_bodies_answer_400_with_a_code(client, data, code):
    rv = client.post("/tasks", data=data, headers={**WRITE, "Content-Type": "application/json"})
    assert rv.status_code == 400, rv.json
    assert rv.json["error"]["code"] == code and rv.json["success"] is False


def test_a_body_that_is_not_json_by_type_answers_415(client):
    rv = client.post("/tasks", data="title=x", headers={**WRITE, "Content-Type": "text/plain"})
    assert rv.status_code == 415 and rv.json["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("raw,field", [
    ('"title": "\\udfff"', "title"),
    ('"description": "ok \\ud800 no"', "description"),
    ('"created_by": "\\udc00"', "created_by"),
])
def test_lone_surrogates_are_refused_as_the_field(client, raw, field):
    body = json.dumps(spec())[:-1] + ", " + raw + "}"
    rv = client.post("/tasks", data=body, headers={**WRITE, "Content-Type": "application/json"})
    assert rv.status_code == 422
    assert rv.json["validationDetails"][0]["field"] == field


def test_a_lone_surrogate_inside_the_payload_and_a_payload_too_deep_are_422(client):
    body = json.dumps(spec())[:-1] + ', "payload": {"pipeline": [{"step": "echo", "args": {"m": "\\udfff"}}]}}'
    rv = client.post("/tasks", data=body, headers={**WRITE, "Content-Type": "application/json"})
    assert rv.status_code == 422
    deep = {"pipeline": [{"step": "echo", "args": {"m": json.loads("[" * 80 + "]" * 80)}}]}
    field_error(client.post("/tasks", json=spec(payload=deep), headers=WRITE), "payload")


def test_huge_and_wrongly_typed_values_are_422_never_500(client):
    for over, field in (({"priority": 10 ** 40}, "priority"), ({"max_retries": 10 ** 40}, "max_retries"),
                        ({"dedupe_key": "k", "dedupe_window_seconds": 10 ** 30}, "dedupe_window_seconds"),
                        ({"title": "x" * 201}, "title"), ({"schedule_expr": "* " * 2000}, "schedule_expr"),
                        ({"timezone": {"zone": "UTC"}}, "timezone"), ({"created_by": None}, "created_by"),
                        ({"payload": {"callable": 5}}, "payload.callable")):
        field_error(client.post("/tasks", json=spec(**over), headers=WRITE), field)


# -- list ------------------------------------------------------------------------

def test_list_filters_pages_and_carries_meta(client):
    cron = create(client, title="a")
    paused = create(client, title="b", created_by=OTHER_AGENT)
    client.post(f"/tasks/{paused['id']}/pause", headers=WRITE)
    canceled = create(client, title="c", schedule_kind="event", schedule_expr="go")
    client.post(f"/tasks/{canceled['id']}/cancel", headers=WRITE)

    rv = client.get("/tasks", headers=READ)
    assert rv.status_code == 200 and set(rv.json) == {"success", "data", "meta"}
    assert rv.json["meta"] == {"total": 3, "limit": 50, "offset": 0}
    assert [t["title"] for t in rv.json["data"]] == ["c", "b", "a"]  # newest first
    assert "recent_runs" not in rv.json["data"][0]

    def ids(query):
        out = client.get(f"/tasks?{query}", headers=READ)
        assert out.status_code == 200, out.json
        return [t["id"] for t in out.json["data"]]

    assert ids("status=active") == [cron["id"]]
    assert ids("status=paused") == [paused["id"]]
    assert ids("status=canceled") == [canceled["id"]]
    assert ids(f"created_by={OTHER_AGENT}") == [paused["id"]]
    assert ids("schedule_kind=event") == [canceled["id"]]
    assert ids("schedule_kind=cron&status=active") == [cron["id"]]
    page = client.get("/tasks?limit=1&offset=1", headers=READ).json
    assert [t["id"] for t in page["data"]] == [paused["id"]]
    assert page["meta"] == {"total": 3, "limit": 1, "offset": 1}
    assert ids("offset=10") == []


@pytest.mark.parametrize("query,field", [
    ("status=cancelled", "status"), ("status=", "status"), ("created_by=agent-1", "created_by"),
    ("schedule_kind=weekly", "schedule_kind"), ("limit=0", "limit"), ("limit=1001", "limit"),
    ("limit=ten", "limit"), ("offset=-1", "offset"), ("limit=" + "9" * 5000, "limit"),
])
def test_list_query_errors_are_422_naming_the_parameter(client, query, field):
    rv = client.get(f"/tasks?{query}", headers=READ)
    assert rv.status_code == 422, rv.json
    assert rv.json["validationDetails"][0]["field"] == field


# -- one task, update --------------------------------------------------------------

@pytest.mark.parametrize("task_id", [MISSING, "nope", "1" * 300, "..%2F..%2Fetc", "%F0%9F%98%80",
                                     "6a1f4a6c-7c43-4d4c-9a0b-3d1a7b2f9c1"])
def test_unknown_or_malformed_ids_are_404_on_every_route(client, task_id):
    for method, suffix, body in (("get", "", None), ("put", "", {"title": "x"}),
                                 ("post", "/run_now", None), ("post", "/snooze", {"delay_seconds": 5}),
                                 ("post", "/pause", None), ("post", "/resume", None),
                                 ("post", "/cancel", None)):
        rv = getattr(client, method)(f"/tasks/{task_id}{suffix}", json=body, headers=WRITE)
        assert rv.status_code == 404, (method, suffix, rv.json)
        assert rv.json["error"]["code"] == "not_found"


def test_put_is_partial_and_keeps_what_it_does_not_name(client):
    task = create(client, priority=3)
    rv = client.put(f"/tasks/{task['id']}", json={"title": "renamed", "description": "new"}, headers=WRITE)
    assert rv.status_code == 200
    after = rv.json["data"]
    assert after["title"] == "renamed" and after["description"] == "new"
    for name in ("schedule_expr", "priority", "payload", "created_by", "next_run_at", "timezone"):
        assert after[name] == task[name], name


def test_put_of_the_timing_recomputes_the_next_run(client):
    task = create(client)
    when = future_iso(hours=30)
    rv = client.put(f"/tasks/{task['id']}", json={"schedule_kind": "once", "schedule_expr": when,
                                                  "timezone": "Europe/Chisinau"}, headers=WRITE)
    assert rv.status_code == 200, rv.json
    local = datetime.fromisoformat(when).replace(tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Chisinau"))
    assert at(rv.json["data"]["next_run_at"]) == local
    rv = client.put(f"/tasks/{task['id']}", json={"schedule_kind": "cron", "schedule_expr": "*/5 * * * *",
                                                  "timezone": "UTC"}, headers=WRITE)
    assert at(rv.json["data"]["next_run_at"]).minute % 5 == 0


def test_put_refusals(client):
    task = create(client)
    field_error(client.put(f"/tasks/{task['id']}", json={"priority": 12}, headers=WRITE), "priority")
    field_error(client.put(f"/tasks/{task['id']}", json={"schedule_expr": "bad cron"}, headers=WRITE),
                "schedule_expr")
    field_error(client.put(f"/tasks/{task['id']}", json={"id": MISSING}, headers=WRITE), "id")
    field_error(client.put(f"/tasks/{task['id']}", json={"payload": {"callable": "os:system"}},
                           headers=WRITE), "payload.callable")
    rv = client.put(f"/tasks/{task['id']}", data="[]", headers={**WRITE, "Content-Type": "application/json"})
    assert rv.status_code == 400
    assert client.get(f"/tasks/{task['id']}", headers=READ).json["data"]["priority"] == 5


# -- transitions ---------------------------------------------------------------------

def test_pause_resume_snooze_run_now_then_cancel_is_final(client, r, prefix):
    task = create(client)
    sid, nxt = task["id"], at(task["next_run_at"])

    rv = client.post(f"/tasks/{sid}/pause", headers=WRITE)
    assert rv.status_code == 200
    assert rv.json["data"]["status"] == "paused" and rv.json["data"]["next_run_at"] is None
    assert client.post(f"/tasks/{sid}/snooze", json={"delay_seconds": 60}, headers=WRITE).status_code == 409

    rv = client.post(f"/tasks/{sid}/resume", headers=WRITE)
    assert rv.json["data"]["status"] == "active" and at(rv.json["data"]["next_run_at"]) == nxt

    rv = client.post(f"/tasks/{sid}/snooze", json={"delay_seconds": 7200, "reason": "maintenance"},
                     headers=WRITE)
    assert rv.status_code == 200, rv.json
    assert at(rv.json["data"]["next_run_at"]) == nxt + timedelta(hours=2)
    assert rv.json["data"]["snooze_reason"] == "maintenance"

    rv = client.post(f"/tasks/{sid}/run_now", headers=WRITE)
    assert rv.status_code == 200
    run = rv.json["data"]
    assert run["id"] == sid and run["outcome"] == "created" and run["run"].startswith("n")
    [task_id] = run["task_ids"]
    assert Queue("default", redis=r, prefix=prefix).get(task_id).meta["schedule_id"] == sid
    shown = client.get(f"/tasks/{sid}", headers=READ).json["data"]
    assert at(shown["next_run_at"]) == nxt + timedelta(hours=2)  # the schedule is unchanged
    assert shown["runs_total"] == 1 and shown["last_run_at"] is not None
    assert [(x["run"], x["outcome"], x["status"], x["task_ids"]) for x in shown["recent_runs"]] == \
        [(run["run"], "created", "pending", [task_id])]

    rv = client.post(f"/tasks/{sid}/cancel", headers=WRITE)
    assert rv.status_code == 200 and rv.json["data"]["status"] == "canceled"
    assert rv.json["data"]["next_run_at"] is None
    for suffix, body in (("/resume", None), ("/snooze", {"delay_seconds": 60}), ("/run_now", None),
                         ("/pause", None)):
        rv = client.post(f"/tasks/{sid}{suffix}", json=body, headers=WRITE)
        assert rv.status_code == 409, (suffix, rv.json)
        assert rv.json["error"]["code"] == "invalid_state"
        assert rv.json["error"]["details"] == {"status": "canceled"}
    assert client.put(f"/tasks/{sid}", json={"title": "again"}, headers=WRITE).status_code == 409
    assert client.get(f"/tasks/{sid}", headers=READ).json["data"]["runs_total"] == 1


@pytest.mark.parametrize("body,field", [
    ({}, "delay_seconds"), ({"delay_seconds": 0}, "delay_seconds"),
    ({"delay_seconds": 604801}, "delay_seconds"), ({"delay_seconds": "60"}, "delay_seconds"),
    ({"delay_seconds": 1.5}, "delay_seconds"), ({"delay_seconds": 10 ** 30}, "delay_seconds"),
    ({"delay_seconds": 60, "reason": 5}, "reason"), ({"delay_seconds": 60, "reason": "x" * 1001}, "reason"),
    ({"delay_seconds": 60, "until": "later"}, "until"),
])
def test_snooze_validation(client, body, field):
    task = create(client)
    field_error(client.post(f"/tasks/{task['id']}/snooze", json=body, headers=WRITE), field)


def test_snooze_bounds_are_accepted_and_a_body_is_required(client):
    task = create(client)
    for delay in (1, 604800):
        rv = client.post(f"/tasks/{task['id']}/snooze", json={"delay_seconds": delay}, headers=WRITE)
        assert rv.status_code == 200, rv.json
    assert client.post(f"/tasks/{task['id']}/snooze", headers=WRITE).status_code == 400


def test_run_now_of_a_paused_task_runs_once_and_leaves_it_paused(client):
    task = create(client)
    client.post(f"/tasks/{task['id']}/pause", headers=WRITE)
    assert client.post(f"/tasks/{task['id']}/run_now", headers=WRITE).json["data"]["outcome"] == "created"
    assert client.get(f"/tasks/{task['id']}", headers=READ).json["data"]["status"] == "paused"
