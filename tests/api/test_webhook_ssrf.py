"""Webhooks are not an SSRF or port-scan tool: refused addresses in every
spelling at registration, every resolved address checked at delivery (and
the checked one connected to), short error classes instead of exception
text, the operator's allow setting, and endpoints limited to named queues."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from apihelpers import bearer

from taskq.webhooks import netguard
from taskq.keys import WebhookKeys
from taskq.webhooks.http import http_post
from taskq.webhooks.store import Deliverer
from taskq.worker_registry import WorkerRegistry

ALLOW = "TASKQ_WEBHOOK_ALLOW_NETS"

REFUSED = [
    "http://127.0.0.1:6379/", "http://127.0.0.2/", "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:6379/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:7f00:1]/", "http://[::127.0.0.1]/", "http://10.1.2.3/", "http://172.16.5.4/",
    "http://192.168.0.1/", "http://100.64.0.1/", "http://[fe80::1]/", "http://[fc00::1]/",
    "http://[fd12:3456::1]/", "http://0.0.0.0:8000/", "http://[::]/", "http://224.0.0.1/",
    "http://[ff02::1]/", "http://240.0.0.1/", "http://255.255.255.255/", "http://192.0.2.1/",
    "http://2130706433/", "http://0x7f.1/", "http://127.1/", "http://0177.0.0.1/",
    "http://0x7f000001/", "http://017700000001/", "http://127.0.0.1./", "http://0/",
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",          # fullwidth digits: NFKC -> 127.0.0.1
    "http://localhost:6379/", "http://api.localhost/", "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::1]/",                                  # 6to4 of 169.254.169.254
]
MALFORMED = [
    "http://evil@127.0.0.1/", "http://user:pw@example.com/", "http://a\\@127.0.0.1/",
    "http://[fe80::1%25eth0]/", "http://1.2.3.4.5/", "http://999.1.1.1/", "gopher://example.com/",
    "file:///etc/passwd", "http:///nohost", "http://example.com:0/", "http://exa mple.com/",
    "not a url",
]


def fake_resolver(monkeypatch, answers: dict):
    """socket.getaddrinfo answering ``answers[name]`` (a list of addresses, or
    a callable giving one) for the names given, the real resolver otherwise."""
    real = socket.getaddrinfo
    calls: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        calls.append(host)
        addrs = answers[host]() if callable(answers[host]) else answers[host]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, int(port or 0))) for a in addrs]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


class Receiver:
    """HTTP on 127.0.0.1 answering ``code`` and recording (headers, body)."""

    def __init__(self, code: int = 200):
        self.requests: list[tuple[dict, bytes]] = []
        self.code = code
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.code)
                if 300 <= outer.code < 400:
                    self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/moved")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        return [json.loads(b) for _, b in self.requests]


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture
def local_client(monkeypatch, make_app):
    """An app whose operator allows 127.0.0.1 (where the test receivers listen)."""
    monkeypatch.setenv(ALLOW, "127.0.0.1/32")
    return make_app().test_client()


def register(client, url, headers, **body):
    return client.post("/api/webhooks", json={"url": url, **body}, headers=headers)


def stats(client, admin, hook_id) -> dict:
    return client.get(f"/api/webhooks/{hook_id}", headers=admin).json["data"]["stats"]


# -- registration -------------------------------------------------------------------------

@pytest.mark.parametrize("url", REFUSED)
def test_refused_addresses_in_every_spelling(client, admin, url):
    resp = register(client, url, admin)
    assert resp.status_code == 422, resp.json
    err = resp.json["error"]
    assert err["code"] == "url_not_allowed" and "url" in err["details"]["fields"]
    assert client.get("/api/webhooks", headers=admin).json["data"] == []


@pytest.mark.parametrize("url", MALFORMED)
def test_credentials_zones_and_bad_syntax_are_refused(client, admin, url):
    resp = register(client, url, admin)
    assert resp.status_code == 422, resp.json
    assert resp.json["error"]["code"] == "invalid_url" and "url" in resp.json["error"]["details"]["fields"]


def test_public_addresses_and_names_are_accepted(client, admin):
    for url in ("https://example.com/hooks?x=1", "http://8.8.8.8:8080/x", "http://[2606:4700::1111]/",
                "http://0x5db8d822/"):
        assert register(client, url, admin).status_code == 201, url


def test_the_allow_setting_admits_a_range_and_nothing_else(monkeypatch, make_app, admin):
    monkeypatch.setenv(ALLOW, "10.0.0.0/8, 127.0.0.1/32")
    client = make_app().test_client()
    for url in ("http://10.1.2.3:8080/x", "http://127.0.0.1:9000/", "http://[::ffff:10.9.9.9]/",
                "http://0xa.1/"):
        assert register(client, url, admin).status_code == 201, url
    for url in ("http://127.0.0.2/", "http://192.168.0.1/", "http://169.254.169.254/"):
        assert register(client, url, admin).json["error"]["code"] == "url_not_allowed", url
    monkeypatch.setenv(ALLOW, "0.0.0.0/0")
    client = make_app().test_client()
    for url in ("http://0.0.0.0/", "http://224.0.0.1/", "http://255.255.255.255/"):
        assert register(client, url, admin).status_code == 422, url   # never admitted


def test_a_bad_allow_setting_stops_the_app_at_start(monkeypatch, make_app):
    monkeypatch.setenv(ALLOW, "10.0.0.0/33")
    with pytest.raises(ValueError, match=ALLOW):
        make_app()


# -- delivery -----------------------------------------------------------------------------

def test_a_name_resolving_to_loopback_is_refused_at_delivery(client, admin, r, keys, dts,
                                                              receiver, monkeypatch):
    fake_resolver(monkeypatch, {"hook.example": ["127.0.0.1"],
                                "mixed.example": ["93.184.216.34", "127.0.0.1"]})
    one = register(client, f"http://hook.example:{receiver.port}/hook", admin).json["data"]
    two = register(client, f"http://mixed.example:{receiver.port}/hook", admin).json["data"]
    dts.enqueue_call(None)
    Deliverer(r, keys).run_once()
    assert receiver.requests == []
    for hook in (one, two):
        s = stats(client, admin, hook["id"])
        assert s["last_error"] == "refused_address" and s["last_status"] == 0 and not s["delivered"]


def test_delivery_connects_to_the_address_it_checked(client, admin, r, keys, dts,
                                                     receiver, monkeypatch):
    monkeypatch.setenv(ALLOW, "127.0.0.1/32")
    answers = iter([["127.0.0.1"]])   # a second lookup would rebind to 127.0.0.2 (not allowed)
    calls = fake_resolver(monkeypatch, {"rebind.example": lambda: next(answers, ["127.0.0.2"])})
    hook = register(client, f"http://rebind.example:{receiver.port}/hook", admin,
                    events=["task.created"]).json["data"]
    dts.enqueue_call(None)
    Deliverer(r, keys).run_once()
    assert calls == ["rebind.example"]
    [(headers, _)] = receiver.requests
    assert headers["host"] == f"rebind.example:{receiver.port}"
    assert stats(client, admin, hook["id"])["delivered"] == 1


def test_allow_setting_at_delivery_is_the_operators_not_the_callers(client, admin, r, keys, dts,
                                                                    receiver, monkeypatch):
    fake_resolver(monkeypatch, {"hook.example": ["127.0.0.1"]})
    register(client, f"http://hook.example:{receiver.port}/hook", admin, events=["task.created"])
    dts.enqueue_call(None)
    Deliverer(r, keys, backoff_base=0.01).run_once()
    assert receiver.requests == []
    time.sleep(0.05)                                                  # past the retry's backoff
    Deliverer(r, keys, allow_nets=netguard.parse_allow_nets("127.0.0.0/8")).run_once()
    assert [e["event"] for e in receiver.events()] == ["task.created"]


def test_failures_are_short_classes_never_exception_text(local_client, admin, r, keys, dts,
                                                        monkeypatch):
    client = local_client
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    silent = socket.socket()          # accepts, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    fail, moved = Receiver(500), Receiver(302)
    fake_resolver(monkeypatch, {"nowhere.invalid": []})
    try:
        urls = {"connect_error": f"http://127.0.0.1:{closed_port}/",
                "timeout": f"http://127.0.0.1:{silent.getsockname()[1]}/",
                "http_500": f"http://127.0.0.1:{fail.port}/",
                "http_302": f"http://127.0.0.1:{moved.port}/",
                "dns_error": "http://nowhere.invalid/"}
        hooks = {cls: register(client, url, admin, events=["task.created"]).json["data"]["id"]
                 for cls, url in urls.items()}
        dts.enqueue_call(None)
        Deliverer(r, keys, timeout=0.3).run_once()
        for cls, hook_id in hooks.items():
            assert stats(client, admin, hook_id)["last_error"] == cls
        assert len(moved.requests) == 1                    # the redirect was not followed
        assert [h["host"] for h, _ in moved.requests] == [f"127.0.0.1:{moved.port}"]
    finally:
        silent.close()
        for rec in (fail, moved):
            rec.server.shutdown()
            rec.server.server_close()


def test_error_text_stored_by_an_older_version_is_not_shown(client, admin, r, keys):
    hook = register(client, "https://example.com/h", admin).json["data"]
    r.hset(WebhookKeys(keys.prefix).stats, f"{hook['id']}:last_error",
           "URLError: <urlopen error [Errno 111] Connection refused>")
    assert stats(client, admin, hook["id"])["last_error"] == "error"


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
def test_https_checks_the_certificate_against_the_url_host(tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=hook.example", "-addext", "subjectAltName=DNS:hook.example",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    rec = Receiver()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    rec.server.socket = server_ctx.wrap_socket(rec.server.socket, server_side=True)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    fake_resolver(monkeypatch, {"hook.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    allow = netguard.parse_allow_nets("127.0.0.1/32")
    try:
        ok = http_post(f"https://hook.example:{rec.port}/h", b"{}", {}, 2.0, allow, client_ctx)
        assert ok == (200, "")
        assert rec.requests[0][0]["host"] == f"hook.example:{rec.port}"
        # same address, another name: the certificate does not match it
        assert http_post(f"https://other.example:{rec.port}/h", b"{}", {}, 2.0, allow,
                         client_ctx) == (0, "tls_error")
        assert len(rec.requests) == 1
    finally:
        rec.server.shutdown()
        rec.server.server_close()


def test_resolve_checked_refuses_if_any_address_is_refused(monkeypatch):
    fake_resolver(monkeypatch, {"split.example": ["8.8.8.8", "::1"]})
    target = netguard.parse_url("http://split.example/")
    with pytest.raises(netguard.AddressRefused):
        netguard.resolve_checked(target)
    assert netguard.resolve_checked(target, netguard.parse_allow_nets("::1/128")) == ["8.8.8.8", "::1"]


# -- which queues an endpoint covers ------------------------------------------------------

def test_endpoints_receive_only_the_queues_they_name(local_client, admin, r, keys, dts, make_queue,
                                                     receiver):
    client = local_client
    others, every = Receiver(), Receiver()
    try:
        default = register(client, f"http://127.0.0.1:{receiver.port}/", admin).json["data"]
        assert default["queues"] == ["dts"]
        assert register(client, f"http://127.0.0.1:{others.port}/", admin,
                        queues=["billing"]).json["data"]["queues"] == ["billing"]
        register(client, f"http://127.0.0.1:{every.port}/", admin, queues=["*"])
        billing, secret = make_queue("billing"), make_queue("td-secret-project")
        d, b, s = dts.enqueue_call(None), billing.enqueue_call(None), secret.enqueue_call(None)
        WorkerRegistry(r, keys).register("worker-1", ["dts"])
        Deliverer(r, keys).run_once()

        def seen(rec):
            return {e["task"]["id"] if "task" in e else e["worker"]["id"] for e in rec.events()}

        assert seen(receiver) == {d.id, "worker-1"}
        assert seen(others) == {b.id, "worker-1"}
        assert seen(every) == {d.id, b.id, s.id, "worker-1"}
        assert r.hlen(WebhookKeys(keys.prefix).pending) == 0       # all acked
    finally:
        for rec in (others, every):
            rec.server.shutdown()
            rec.server.server_close()


def test_other_queues_need_admin(client, monkeypatch):
    writer = bearer("webhooks:write")
    ok = register(client, "https://example.com/h", writer)
    assert ok.status_code == 201 and ok.json["data"]["queues"] == ["dts"]
    assert register(client, "https://example.com/h", writer, queues=["dts"]).status_code == 201
    for queues in (["billing"], ["*"], ["dts", "td-abc"]):
        resp = register(client, "https://example.com/h", writer, queues=queues)
        assert resp.status_code == 403 and resp.json["error"]["details"]["required_scope"] == "admin"
    assert register(client, "https://example.com/h", bearer("webhooks:read")).status_code == 403


def test_bad_queue_lists_are_422(client, admin):
    for queues in ([], ["bad name"], ["x" * 129], "dts", [1]):
        resp = register(client, "https://example.com/h", admin, queues=queues)
        assert resp.status_code == 422, (queues, resp.json)


def test_a_bad_allow_setting_stops_delivery_not_the_scheduler(monkeypatch, r, keys, caplog):
    from taskq.webhooks import store as webhooks
    monkeypatch.setenv(ALLOW, "not-a-network")
    with caplog.at_level("ERROR", logger="taskq.webhooks.store"):
        webhooks.upkeep(r, keys)
        webhooks.upkeep(r, keys)
    assert [rec.getMessage() for rec in caplog.records].count(
        f"webhook delivery is off: {ALLOW}: 'not-a-network' is not an address or CIDR network") == 1
