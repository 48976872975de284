"""Credentials: JWTs and API keys, 401 versus 403, and the CLI that makes them."""

from __future__ import annotations

import json
import time

import jwt
from apihelpers import SECRET, bearer
from click.testing import CliRunner

from api import auth
from api.cli import cli
from taskq.keys import ApiKeys


def test_missing_expired_forged_and_malformed_credentials_are_401(client):
    expired = jwt.encode({"sub": "x", "scopes": ["admin"], "exp": int(time.time()) - 10}, SECRET, "HS256")
    forged = jwt.encode({"sub": "x", "scopes": ["admin"], "exp": int(time.time()) + 60}, "wrong-secret-wrong-secret-wrong-secret", "HS256")
    no_exp = jwt.encode({"sub": "x", "scopes": ["admin"]}, SECRET, "HS256")
    none_alg = jwt.encode({"sub": "x", "scopes": ["admin"], "exp": int(time.time()) + 60}, None, "none")
    cases = {None: "auth_required", f"Bearer {expired}": "token_expired", f"Bearer {forged}": "invalid_token",
             f"Bearer {no_exp}": "invalid_token", f"Bearer {none_alg}": "invalid_token",
             "Bearer": "unauthorized", "Basic dXNlcjpwYXNz": "unauthorized", "ApiKey tq_nope": "invalid_api_key"}
    for header, code in cases.items():
        resp = client.get("/api/tasks", headers={"Authorization": header} if header else {})
        assert resp.status_code == 401, header
        assert resp.json["error"]["code"] == code and resp.json["success"] is False


def test_valid_token_without_scope_is_403(client):
    resp = client.post("/api/tasks", json={"name": "x", "command": "y"}, headers=bearer("tasks:read"))
    assert resp.status_code == 403 and resp.json["error"]["code"] == "insufficient_scope"
    assert resp.json["error"]["details"] == {"required_scope": "tasks:write"}
    for path in ("/api/workers", "/api/system/status", "/api/webhooks"):
        assert client.get(path, headers=bearer("tasks:read")).status_code == 403, path


def test_scopes_write_implies_read_and_admin_allows_all(client):
    assert client.get("/api/tasks", headers=bearer("tasks:write")).status_code == 200
    assert client.get("/api/tasks", headers=bearer("tasks:read", sub="s")).status_code == 200
    for path in ("/api/tasks", "/api/workers", "/api/system/status", "/api/system/metrics", "/api/webhooks"):
        assert client.get(path, headers=bearer("admin")).status_code == 200, path
    assert client.get("/api/workers", headers=bearer("workers:read")).status_code == 200
    assert client.get("/api/system/metrics", headers=bearer("system:read")).status_code == 200


def test_scopes_as_a_space_separated_string(client):
    token = jwt.encode({"sub": "x", "scopes": "tasks:read system:read", "exp": int(time.time()) + 60},
                       SECRET, "HS256")
    assert client.get("/api/system/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_no_secret_means_no_bearer_tokens(make_app):
    client = make_app(TASKQ_JWT_SECRET=None).test_client()
    resp = client.get("/api/tasks", headers=bearer("admin"))
    assert resp.status_code == 401 and resp.json["error"]["code"] == "invalid_token"


def test_api_keys_are_stored_hashed_and_checked(client, r, prefix):
    keys = ApiKeys(prefix)
    key, rec = auth.create_api_key(r, keys, "ci", ["tasks:read"])
    assert key.startswith("tq_")
    stored = r.hgetall(keys.api_keys)
    assert key not in json.dumps(stored) and len(next(iter(stored))) == 64
    assert client.get("/api/tasks", headers={"Authorization": f"ApiKey {key}"}).status_code == 200
    resp = client.post("/api/tasks", json={"name": "x", "command": "y"}, headers={"Authorization": f"ApiKey {key}"})
    assert resp.status_code == 403
    assert auth.revoke_api_key(r, keys, rec["id"]) is True
    assert client.get("/api/tasks", headers={"Authorization": f"ApiKey {key}"}).status_code == 401
    assert auth.revoke_api_key(r, keys, rec["id"]) is False


def test_health_and_docs_need_no_credentials(client):
    for path in ("/health", "/api/health", "/api/docs", "/api/docs.json", "/metrics"):
        assert client.get(path).status_code == 200, path


def test_cli_mints_tokens_and_manages_keys(monkeypatch, redis_url, prefix, client):
    runner = CliRunner()
    monkeypatch.setenv("TASKQ_JWT_SECRET", SECRET)
    out = runner.invoke(cli, ["token", "--sub", "ops", "-s", "tasks:read", "--ttl", "60"])
    assert out.exit_code == 0, out.output
    token = out.output.strip()
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["scopes"] == ["tasks:read"]
    assert client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    bad = runner.invoke(cli, ["token", "--sub", "ops", "-s", "everything"])
    assert bad.exit_code != 0 and "unknown scope" in bad.output

    base = ["--url", redis_url, "--prefix", prefix]
    out = runner.invoke(cli, ["apikey", "create", "--name", "deploy", "-s", "admin", *base])
    assert out.exit_code == 0, out.output
    key = out.stdout.strip().splitlines()[0]
    assert client.get("/api/workers", headers={"Authorization": f"ApiKey {key}"}).status_code == 200
    listed = runner.invoke(cli, ["apikey", "list", *base])
    rec = json.loads(listed.output.strip().splitlines()[0])
    assert rec["name"] == "deploy" and key not in listed.output
    assert runner.invoke(cli, ["apikey", "revoke", rec["id"], *base]).exit_code == 0
    assert runner.invoke(cli, ["apikey", "revoke", rec["id"], *base]).exit_code != 0
    assert client.get("/api/workers", headers={"Authorization": f"ApiKey {key}"}).status_code == 401


def test_tokens_never_reach_the_access_log(client, caplog):
    import logging
    headers = bearer("admin")
    log = logging.getLogger("taskq.api.access")
    log.addHandler(caplog.handler)
    try:
        client.get("/api/tasks?x=1", headers=headers)
        client.get("/api/tasks", headers={"Authorization": "Bearer forged.token.here"})
    finally:
        log.removeHandler(caplog.handler)
    text = caplog.text
    assert headers["Authorization"].split()[1] not in text and "forged.token.here" not in text
    line = json.loads(caplog.records[0].getMessage())
    assert line["path"] == "/api/tasks" and line["status"] == 200 and line["principal"] == "jwt:tester"


def test_taskq_command_reaches_the_auth_commands(monkeypatch):
    from taskq.cli import main
    monkeypatch.setenv("TASKQ_JWT_SECRET", SECRET)
    out = CliRunner().invoke(main, ["auth", "token", "--sub", "ops", "-s", "admin"])
    assert out.exit_code == 0, out.output
    assert jwt.decode(out.output.strip(), SECRET, algorithms=["HS256"])["sub"] == "ops"
