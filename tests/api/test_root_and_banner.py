"""``GET /`` leads somewhere: a browser to the dashboard, anything else to a
JSON map of the surfaces, without credentials and without anything secret;
and the ready banner of ``taskq start`` names the dashboard."""

from __future__ import annotations

import pytest
from apihelpers import SECRET

from taskq.local.start import banner

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_root_answers_a_json_map_of_the_surfaces(client, accept):
    resp = client.get("/", headers={"Accept": accept} if accept else {})
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert "Accept" in resp.headers.get("Vary", "")
    links = resp.get_json()["links"]
    assert links["dashboard"] == "/dashboard/" and links["docs"] == "/api/docs"
    assert links["api"] == "/api" and links["metrics"] == "/metrics"
    for path in (links["health"], links["openapi"], links["docs"]):
        assert client.get(path).status_code == 200, path


def test_a_browser_is_sent_to_the_dashboard(client):
    resp = client.get("/", headers={"Accept": BROWSER})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/dashboard/"
    assert "Accept" in resp.headers.get("Vary", "")
    # the dashboard then asks a visitor without a session to log in
    follow = client.get("/", headers={"Accept": BROWSER}, follow_redirects=True)
    assert follow.status_code == 200 and follow.mimetype == "text/html"
    assert follow.request.path == "/dashboard/login"


def test_root_needs_no_credential_and_shows_nothing_secret(make_app):
    app = make_app(TASKQ_METRICS_TOKEN="metrics-token-0123456789")
    resp = app.test_client().get("/")
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert SECRET not in text and "metrics-token" not in text and "tq_" not in text
    assert "redis" not in text.lower()
    assert resp.headers.get("Set-Cookie") is None


def test_root_leaves_out_metrics_when_they_are_off(make_app):
    links = make_app(TASKQ_METRICS=False).test_client().get("/").get_json()["links"]
    assert "metrics" not in links and links["dashboard"] == "/dashboard/"


def test_root_behind_a_path_prefix(client):
    resp = client.get("/", environ_overrides={"SCRIPT_NAME": "/queue"})
    assert resp.get_json()["links"]["dashboard"] == "/queue/dashboard/"
    resp = client.get("/", headers={"Accept": BROWSER}, environ_overrides={"SCRIPT_NAME": "/queue"})
    assert resp.headers["Location"] == "/queue/dashboard/"


def test_other_methods_on_root_are_refused(client):
    assert client.post("/").status_code == 405


def test_ready_banner_names_the_dashboard():
    text = banner("http://127.0.0.1:8123", "API key  tq_x", {}, up=True)
    lines = text.splitlines()
    assert "  dashboard http://127.0.0.1:8123/dashboard/   (log in with an API key)" in lines
    # between the docs and the metrics, as a newcomer reads down the list
    names = [line.split()[0] for line in lines[1:5]]
    assert names == ["API", "docs", "dashboard", "metrics"]
