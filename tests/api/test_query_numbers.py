"""Numbers from query strings and forms go through one parser
(api.numbers, DESIGN invariant 12): ASCII digits with an optional sign.
Every route with a numeric query or form parameter, in every dialect and
the dashboard, answers the hostile spellings with its own 4xx and a code,
never 500, and reads the plain ASCII ones."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from apihelpers import bearer
from dashboard_client import act, login
from marshmallow import fields
from test_taskdriver_support import project

from api.numbers import MAX_DIGITS, NotANumber, QueryInt, parse_int
from taskq.schedules import Schedules
from taskq.worker_registry import WorkerRegistry

HOSTILE = ["²", "١٢", "１", "１２", " 1", "1 ", "\u00a01", "1\n", "1_000", "9" * 5000, "9" * (MAX_DIGITS + 1),
           "1e3", "NaN", "nan", "inf", "-inf", "0x10", "1.0", "", "+", "-", "--1", "+-1", "1,000", "½", "𝟙"]
"""Spellings int() or isdigit() would take, or that overflow or are not numbers."""
ASCII = [("+1", 1), ("001", 1), ("1", 1)]


@pytest.mark.parametrize("text", HOSTILE + [None, 12])
def test_parse_int_refuses_all_but_ascii_digits(text):
    with pytest.raises(NotANumber) as e:
        parse_int(text, 0, 100)
    assert "whole number from 0 to 100" in str(e.value)


def test_parse_int_reads_ascii_with_a_sign_and_checks_the_bounds():
    assert [parse_int(t) for t in ("0", "+1", "-0", "007", "-12", "9" * MAX_DIGITS)] == \
        [0, 1, 0, 7, -12, int("9" * MAX_DIGITS)]
    assert parse_int("5", 5, 5) == 5 and parse_int("0" * 40 + "7") == 7  # leading zeros are not digits to bound
    assert parse_int("9" * 5000, 1, ceiling=100) == parse_int("101", 1, ceiling=100) == 100
    for text in ("-" + "9" * 5000, "9" * (MAX_DIGITS + 1)):
        with pytest.raises(NotANumber):
            parse_int(text, None, None)
    with pytest.raises(NotANumber):
        parse_int("-" + "9" * 5000, ceiling=100)
    for text, lo, hi in (("4", 5, None), ("6", None, 5), ("-1", 0, 10)):
        with pytest.raises(NotANumber):
            parse_int(text, lo, hi)


def test_every_numeric_query_field_of_every_route_is_read_by_the_one_parser(app):
    """A new query schema with a plain fields.Integer would read '١٢' as 12."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        funcs = [getattr(view.view_class, m) for m in ("get", "post", "put", "patch", "delete")
                 if hasattr(getattr(view, "view_class", None), m)] if hasattr(view, "view_class") else [view]
        for f in funcs:
            for arg in getattr(f, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                if arg.get("in") not in ("query", "form"):
                    continue
                for name, field in arg["schema"]().fields.items():
                    if isinstance(field, fields.Number):
                        found.append((rule.rule, name, type(field) is QueryInt))
    assert len(found) >= 14, found  # the routes swept below
    assert [f for f in found if not f[2]] == []


def _code(resp) -> str | None:
    body = resp.get_json(silent=True) or {}
    err = body.get("error")
    return err.get("code") if isinstance(err, dict) else body.get("code")


@pytest.fixture
def routes(client, r, keys, prefix):
    """(path, parameter) of every route with a numeric query parameter, and the headers to call it with."""
    admin = bearer("admin")
    pid = project(client, admin)["id"]
    tid = client.post("/api/tasks", json={"name": "x", "command": "true"}, headers=admin).json["data"]["id"]
    WorkerRegistry(r, keys).register("w-1", ["dts"])
    found = [("/api/tasks", "page"), ("/api/tasks", "limit"), (f"/api/tasks/{tid}/logs", "limit"),
             (f"/api/tasks/{tid}/logs", "offset"), ("/api/workers", "page"), ("/api/workers", "limit"),
             ("/api/workers/w-1/tasks", "page"), ("/api/workers/w-1/tasks", "limit"),
             ("/api/projects", "limit"), ("/api/projects", "offset"),
             (f"/api/projects/{pid}/tasks", "limit"), (f"/api/projects/{pid}/tasks", "offset"),
             ("/tasker/tasks", "page"), ("/tasker/tasks", "per_page"), ("/tasker/analytics/bottlenecks", "period"),
             ("/tasks", "limit"), ("/tasks", "offset")]
    return found, admin


LONG = {"9" * 5000, "9" * (MAX_DIGITS + 1)}
CEILINGS = {("/tasker/tasks", "per_page"): 100}
"""Fields whose document serves any larger number as a ceiling (Tasker: per_page above 100 is 100)."""


def test_every_dialect_route_answers_hostile_numbers_with_its_422(client, routes):
    found, admin = routes
    for path, param in found:
        for text in HOSTILE:
            if (path, param) in CEILINGS and text in LONG:
                resp = client.get(f"{path}?{param}={text}", headers=admin)
                assert resp.status_code == 200 and resp.json["pagination"][param] == CEILINGS[path, param]
                continue
            resp = client.get(f"{path}?{param}={quote(text)}", headers=admin)
            assert resp.status_code == 422 and _code(resp) in ("validation_error", "VALIDATION_ERROR"), \
                (path, param, text, resp.status_code, resp.get_data(as_text=True)[:200])
        for text, _ in ASCII:
            resp = client.get(f"{path}?{param}={quote(text)}", headers=admin)
            assert resp.status_code == 200, (path, param, text, resp.get_data(as_text=True)[:200])


def test_the_ascii_value_is_the_one_used(client, routes):
    _, admin = routes
    assert client.get("/api/tasks?limit=007", headers=admin).json["meta"]["limit"] == 7
    assert client.get("/api/projects?limit=%2B3", headers=admin).json["meta"]["limit"] == 3
    meta = client.get("/tasks?offset=-0&limit=002", headers=admin).json["meta"]
    assert (meta["offset"], meta["limit"]) == (0, 2)


DASHBOARD_PAGES = ["/queues/dts", "/schedules", "/workflows"]


@pytest.fixture
def dash(client, make_queue):
    make_queue("dts").enqueue("app:job")
    csrf = login(client, "dashboard")
    return client, csrf


@pytest.mark.parametrize("page", DASHBOARD_PAGES)
def test_dashboard_page_numbers_are_400_invalid_page_as_page_and_json(dash, page):
    client, _ = dash
    for text in [h for h in HOSTILE if h] + ["0", "-1", "10001"]:  # an empty ?page= is page 1
        for base in ("/dashboard", "/dashboard/data"):
            resp = client.get(f"{base}{page}?page={quote(text)}", headers={"Accept": "application/json"})
            assert resp.status_code == 400 and _code(resp) == "invalid_page", (page, text, resp.status_code)
    for text in [t for t, _ in ASCII] + [""]:
        resp = client.get(f"/dashboard/data{page}?page={quote(text)}")
        assert resp.status_code == 200 and resp.get_json()["data"]["paging"]["page"] == 1


def test_dashboard_snooze_form_numbers_are_422_invalid_delay(dash, r, prefix):
    client, csrf = dash
    s = Schedules(r, prefix).create({
        "title": "t", "description": "", "schedule_kind": "cron", "schedule_expr": "0 * * * *",
        "timezone": "UTC", "created_by": "6a1f4a6c-7c43-4d4c-9a0b-3d1a7b2f9c11",
        "payload": {"pipeline": [{"step": "echo", "args": {"message": "hi"}}]}})
    before = Schedules(r, prefix).get(s["id"])["next_run_at"]
    for text in HOSTILE + ["0", "-5", "604801"]:
        for as_json in (True, False):
            resp = act(client, f"/dashboard/schedules/{s['id']}/snooze", csrf, json=as_json, delay_seconds=text)
            assert resp.status_code == 422, (text, resp.status_code)
            if as_json:
                assert _code(resp) == "invalid_delay"
    assert Schedules(r, prefix).get(s["id"])["next_run_at"] == before
    resp = act(client, f"/dashboard/schedules/{s['id']}/snooze", csrf, delay_seconds="+0060")
    assert resp.status_code == 200 and Schedules(r, prefix).get(s["id"])["next_run_at"] > before
