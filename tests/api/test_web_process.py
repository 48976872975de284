"""The web process trusts forwarded headers only as TASKQ_TRUSTED_PROXIES
says (in the app and under gunicorn, whose own trust is off), serves no
``./static`` of its working folder, and opens no gunicorn control socket
at a path shared by every web process of the user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from taskq.local.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9",
             "X-Forwarded-Host": "evil.example"}


def _login_cookie(set_cookie: str) -> list[str]:
    return [part.strip().lower() for part in set_cookie.split(";")]


# -- in the app (Flask's test client) ------------------------------------------------

def test_forwarded_headers_are_ignored_by_default(make_app):
    client = make_app().test_client()
    resp = client.get("/dashboard/login", headers=FORWARDED)
    assert resp.status_code == 200
    assert "secure" not in _login_cookie(resp.headers["Set-Cookie"])
    assert "Strict-Transport-Security" not in resp.headers


def test_forwarded_headers_are_honoured_when_trusted(make_app):
    client = make_app(TASKQ_TRUSTED_PROXIES=1).test_client()
    resp = client.get("/dashboard/login", headers=FORWARDED)
    assert "secure" in _login_cookie(resp.headers["Set-Cookie"])
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


def test_the_client_ip_of_rate_limits_is_the_peer_by_default(make_app):
    client = make_app(TASKQ_LOGIN_RATE_LIMIT="1/minute").test_client()
    body = {"projectId": "550e8400-e29b-41d4-a716-446655440000", "agentName": "a"}
    codes = [client.post("/api/auth/login", json=body,
                         headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code for n in (1, 2)]
    assert codes[1] == 429, codes  # one budget: the header did not make two clients
    trusting = make_app(TASKQ_LOGIN_RATE_LIMIT="1/minute", TASKQ_TRUSTED_PROXIES=1).test_client()
    codes = [trusting.post("/api/auth/login", json=body,
                           headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in (1, 2)]
    assert 429 not in codes, codes


def test_no_static_folder_of_the_working_directory(make_app, tmp_path, monkeypatch):
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "secret.txt").write_text("not for the web")
    monkeypatch.chdir(tmp_path)
    client = make_app().test_client()
    resp = client.get("/static/secret.txt")
    assert resp.status_code == 404 and b"not for the web" not in resp.data
    for asset in ("/dashboard/static/dashboard.css", "/tasker/assets/diagram.js",
                  "/api/docs/static/swagger-ui.css"):
        assert client.get(asset).status_code == 200, asset


# -- under gunicorn ------------------------------------------------------------------

class Web:
    """``gunicorn -c api/gunicorn_conf.py 'api:create_app()'`` as the Procfile runs it."""

    def __init__(self, env: dict, log: Path):
        self.port = free_port()
        self.log = log
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.proc = subprocess.Popen(
            [str(gunicorn), "-c", "api/gunicorn_conf.py", "--bind", f"127.0.0.1:{self.port}",
             "api:create_app()"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, log.read_text()
            try:
                self.get("/health")
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"gunicorn did not answer: {log.read_text()}")

    def get(self, path: str, headers: dict | None = None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.headers
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers

    def access_ips(self, path: str) -> list[str]:
        out = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{") and '"msg": "request"' in line:
                record = json.loads(line)
                if record["path"] == path:
                    out.append(record["ip"])
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def web_env(redis_url, prefix, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TASKQ_") and k not in ("XDG_RUNTIME_DIR", "FORWARDED_ALLOW_IPS")}
    env.update(REDIS_URL=redis_url, TASKQ_PREFIX=prefix, PYTHONPATH=str(ROOT), HOME=str(home),
               WEB_CONCURRENCY="1", WEB_THREADS="2")
    return env


@pytest.mark.parametrize("trusted", [None, "1"])
def test_gunicorn_trusts_forwarded_headers_only_as_the_setting_says(trusted, web_env, tmp_path):
    env = dict(web_env, **({"TASKQ_TRUSTED_PROXIES": trusted} if trusted else {}))
    web = Web(env, tmp_path / "web.log")
    try:
        status, headers = web.get("/dashboard/login", FORWARDED)
        assert status == 200
        secure = "secure" in _login_cookie(headers["Set-Cookie"])
        hsts = headers.get("Strict-Transport-Security") is not None
        assert (secure, hsts) == ((True, True) if trusted else (False, False))
        deadline = time.monotonic() + 10
        while not web.access_ips("/dashboard/login") and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        web.stop()
    assert web.access_ips("/dashboard/login") == ["203.0.113.9" if trusted else "127.0.0.1"]


def test_two_web_processes_share_no_control_socket(web_env, tmp_path):
    home = Path(web_env["HOME"])
    first = Web(web_env, tmp_path / "first.log")
    try:
        second = Web(web_env, tmp_path / "second.log")
        second.stop()
        assert first.get("/health")[0] == 200
        assert not list(home.rglob("*.ctl")) and not (home / ".gunicorn").exists()
    finally:
        first.stop()


def test_a_control_socket_only_where_the_operator_says(web_env, tmp_path):
    sockets = [tmp_path / "a.ctl", tmp_path / "b.ctl"]
    first = Web(dict(web_env, TASKQ_WEB_CONTROL_SOCKET=str(sockets[0])), tmp_path / "a.log")
    try:
        second = Web(dict(web_env, TASKQ_WEB_CONTROL_SOCKET=str(sockets[1])), tmp_path / "b.log")
        assert sockets[0].is_socket() and sockets[1].is_socket()
        second.stop()
        assert sockets[0].is_socket() and not sockets[1].exists()
    finally:
        first.stop()
