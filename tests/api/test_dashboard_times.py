"""Times as the server renders them: UTC, with the stored instant in the
title, the "Times: UTC | Local" switch in the header hidden until
dashboard.js shows it, and the chart's bar titles carrying their instant so
the script can show them in the viewer's zone (see
tests/browser/test_dashboard_time_zone.py for the switch itself)."""

from __future__ import annotations

import re

import pytest
from dashboard_client import login


@pytest.fixture
def dash(client):
    login(client, "dashboard")
    return client


def test_times_render_in_utc_with_the_switch_hidden(dash, r, keys, make_queue):
    q = make_queue("emails")
    t = q.enqueue("app:mail")
    r.hset(keys.queue("emails").task(t.id), "created", 1784151005000)  # 2026-07-15T21:30:05Z
    html = dash.get("/dashboard/queues/emails").get_data(as_text=True)
    assert ('<time datetime="2026-07-15T21:30:05.000Z" title="2026-07-15T21:30:05.000Z">'
            '2026-07-15 21:30:05<span class="tz"> UTC</span></time>') in html
    switch = re.search(r'<div class="times" id="times-choice"[^>]*>', html)
    assert switch and " hidden" in switch.group(0)
    assert 'data-times="utc" aria-pressed="true"' in html
    region = dash.get("/dashboard/data/queues/emails").get_json()["regions"]["live"]
    assert "2026-07-15 21:30:05<span class=\"tz\"> UTC</span>" in region


def test_chart_bar_titles_carry_their_instant(dash):
    html = dash.get("/dashboard/").get_data(as_text=True)
    bars = re.findall(r'<title data-at="([^"]+)" data-tail="([^"]*)">([^<]*)</title>', html)
    assert bars
    at, tail, text = bars[-1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z", at)
    assert text == f"{at[11:16]} UTC{tail}" and re.fullmatch(r": \d+ completed, \d+ failed", tail)


def test_no_switch_before_login(client):
    assert 'id="times-choice"' not in client.get("/dashboard/login").get_data(as_text=True)
