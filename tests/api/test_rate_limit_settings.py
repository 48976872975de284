"""Rate limits in the notation people know (100/minute) as well as
N/<seconds>; anything else refused with one line naming the setting, at
start-up (create_app, and gunicorn's master before any worker boots) and in
the CLI; a bad limit already stored on a key never answers 500."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from apihelpers import SECRET
from click.testing import CliRunner

from api import ratelimit
from api.auth import _key_hash, create_api_key, list_api_keys
from api.cli import cli
from api.config import ConfigError, parse_rate
from taskq.keys import ApiKeys

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, expected", [
    ("100/minute", (100, 60)), ("100/minutes", (100, 60)), ("5/second", (5, 1)), ("5/seconds", (5, 1)),
    ("2/hour", (2, 3600)), ("2/hours", (2, 3600)), ("1/day", (1, 86400)), ("7/days", (7, 86400)),
    ("100/900", (100, 900)), (" 10 / Minute ", (10, 60)),
    ("off", None), ("0", None), ("", None), (None, None),
])
def test_rate_notations(text, expected):
    assert parse_rate(text, "TASKQ_RATE_LIMIT") == expected


@pytest.mark.parametrize("text", ["abc", "100/fortnight", "100/0", "0/60", "-1/60", "100/minute/2",
                                  "100 per minute", "1.5/60", "/60", "100/s", "100"])
def test_bad_rates_are_refused_naming_the_setting(text):
    with pytest.raises(ConfigError) as exc:
        parse_rate(text, "TASKQ_RATE_LIMIT")
    message = str(exc.value)
    assert "\n" not in message and message.startswith(f"TASKQ_RATE_LIMIT={text!r}")
    assert "N/minute" in message and "N/<seconds>" in message


def test_create_app_takes_the_known_notation(make_app, admin):
    client = make_app(TASKQ_RATE_LIMIT="100/minute").test_client()
    resp = client.get("/api/tasks", headers=admin)
    assert resp.status_code == 200 and resp.headers["X-RateLimit-Limit"] == "100"


@pytest.mark.parametrize("setting", ["TASKQ_RATE_LIMIT", "TASKQ_RATE_LIMIT_IP", "TASKQ_LOGIN_RATE_LIMIT"])
def test_create_app_refuses_a_bad_rate_in_one_line(make_app, setting):
    with pytest.raises(ConfigError) as exc:
        make_app(**{setting: "100/fortnight"})
    assert str(exc.value).startswith(f"{setting}='100/fortnight' is not valid: expected ")
    assert "\n" not in str(exc.value)


def test_gunicorn_stops_with_one_line_and_no_traceback(tmp_path):
    env = {**os.environ, "TASKQ_RATE_LIMIT": "100/fortnight", "PORT": "0",
           "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.run([str(gunicorn), "-c", "api/gunicorn_conf.py", "api:create_app()"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert lines == ["taskq: TASKQ_RATE_LIMIT='100/fortnight' is not valid: expected "
                     "N/second, N/minute, N/hour, N/day or N/<seconds> (e.g. 100/minute, 100/900), or off"]
    assert "Traceback" not in proc.stderr + proc.stdout and "Booting worker" not in proc.stderr


# -- the CLI refuses what the API could not read ------------------------------------
def test_the_cli_refuses_a_bad_rate_limit(r, prefix):
    runner = CliRunner()
    bad = runner.invoke(cli, ["apikey", "create", "--name", "x", "-s", "admin", "--rate-limit", "abc",
                              "--prefix", prefix])
    assert bad.exit_code == 2 and "rate_limit='abc'" in bad.output
    assert list_api_keys(r, ApiKeys(prefix)) == []
    good = runner.invoke(cli, ["apikey", "create", "--name", "x", "-s", "agents:write",
                               "--rate-limit", "600/hour", "--agent", "bot-1", "--agent", "bot-2",
                               "--project", "550E8400-E29B-41D4-A716-446655440000", "--prefix", prefix])
    assert good.exit_code == 0, good.output
    (rec,) = list_api_keys(r, ApiKeys(prefix))
    assert rec["rate_limit"] == "600/hour" and rec["agents"] == ["bot-1", "bot-2"]
    assert rec["projects"] == ["550e8400-e29b-41d4-a716-446655440000"]
    not_an_id = runner.invoke(cli, ["apikey", "create", "--name", "x", "-s", "admin", "--project", "nope",
                                    "--prefix", prefix])
    assert not_an_id.exit_code == 2


def test_the_cli_token_refuses_a_bad_rate_limit_and_carries_limits(monkeypatch):
    monkeypatch.setenv("TASKQ_JWT_SECRET", SECRET)
    runner = CliRunner()
    assert runner.invoke(cli, ["token", "--sub", "x", "-s", "admin", "--rate-limit", "10/fortnight"]).exit_code == 2
    out = runner.invoke(cli, ["token", "--sub", "x", "-s", "agents:write", "--agent", "bot-1",
                              "--rate-limit", "10/minute"])
    assert out.exit_code == 0, out.output
    claims = jwt.decode(out.output.strip(), SECRET, algorithms=["HS256"])
    assert claims["agents"] == ["bot-1"] and claims["rate_limit"] == "10/minute"


# -- a bad stored limit ---------------------------------------------------------------
def test_a_bad_stored_key_limit_uses_the_default_and_logs_once(make_app, r, prefix, caplog):
    client = make_app(TASKQ_RATE_LIMIT="50/minute").test_client()
    keys = ApiKeys(prefix)
    key, rec = create_api_key(r, keys, "old", ["tasks:read"])
    rec["rate_limit"] = "abc"                        # as an older version stored it, unchecked
    r.hset(keys.api_keys, _key_hash(key), json.dumps(rec))
    ratelimit._WARNED.discard(f"key:{rec['id']}")
    with caplog.at_level(logging.WARNING, logger="taskq.api"):
        answers = [client.get("/api/tasks", headers={"Authorization": f"ApiKey {key}"}) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].headers["X-RateLimit-Limit"] == "50"
    warned = [x for x in caplog.records if "rate_limit='abc'" in x.getMessage()]
    assert len(warned) == 1 and key not in warned[0].getMessage()


def test_a_bad_limit_claim_in_a_token_uses_the_default(make_app):
    client = make_app(TASKQ_RATE_LIMIT="40/minute").test_client()
    for claim in ("abc", "100/fortnight", ["x"], {"n": 1}):
        token = jwt.encode({"sub": "odd", "exp": 4102444800, "scopes": ["tasks:read"], "rate_limit": claim},
                           SECRET, algorithm="HS256")
        resp = client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200 and resp.headers["X-RateLimit-Limit"] == "40", claim


@pytest.mark.parametrize("setting, value", [("TASKQ_TRUSTED_PROXIES", "one"), ("TASKQ_TASKDRIVER_LOGIN", "nobody"),
                                            ("TASKQ_TASKDRIVER_SESSION_TTL", "soon"),
                                            ("TASKQ_TASKDRIVER_SESSION_TTL", "inf")])
def test_other_settings_are_refused_in_one_line(make_app, setting, value):
    with pytest.raises(ConfigError) as exc:
        make_app(**{setting: value})
    assert str(exc.value).startswith(f"{setting}=") and "\n" not in str(exc.value)
