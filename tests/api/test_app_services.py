"""The app builds each service once (api.app_state.AppState) and the dialects
use those very objects; the schedule service's allow-list
(TASKQ_SCHEDULE_FUNCTIONS) is read as before: create_app's config, else
the environment, else none (the static rule: tests/unit/test_service_boundary.py)."""

from __future__ import annotations

from schedules_api_helpers import WRITE, field_error, spec


def test_the_dialects_use_the_apps_own_services(make_app):
    app = make_app()
    st, dialects = app.extensions["taskq"], app.extensions["taskq.dialects"]
    assert dialects["schedules"] is st.schedules
    assert dialects["tasker"].workflows is st.workflows
    assert dialects["tasker"].analytics is st.analytics
    assert dialects["taskdriver"].sessions is st.sessions
    assert st.workflows.workers is st.workers


def test_the_schedule_allow_list_comes_from_the_config(make_app):
    app = make_app(TASKQ_SCHEDULE_FUNCTIONS=" reports.jobs:build, ,billing:* ")
    assert app.extensions["taskq"].schedules.functions == ("reports.jobs:build", "billing:*")
    assert app.config["TASKQ_SCHEDULE_FUNCTIONS"] == " reports.jobs:build, ,billing:* "


def test_the_schedule_allow_list_comes_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("TASKQ_SCHEDULE_FUNCTIONS", "reports.jobs:build")
    client = make_app().test_client()
    assert client.post("/tasks", json=spec(payload={"callable": "reports.jobs:build"}),
                       headers=WRITE).status_code == 201
    field_error(client.post("/tasks", json=spec(payload={"callable": "billing:charge"}), headers=WRITE),
                "payload.callable")


def test_the_config_wins_over_the_environment_and_none_is_the_default(make_app, monkeypatch):
    monkeypatch.setenv("TASKQ_SCHEDULE_FUNCTIONS", "*")
    assert make_app(TASKQ_SCHEDULE_FUNCTIONS="billing:*").extensions["taskq"].schedules.functions == ("billing:*",)
    monkeypatch.delenv("TASKQ_SCHEDULE_FUNCTIONS")
    app = make_app()
    assert app.extensions["taskq"].schedules.functions == ()
    assert app.config["TASKQ_SCHEDULE_FUNCTIONS"] == ""
