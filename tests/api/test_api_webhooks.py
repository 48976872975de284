"""Webhooks: the /api/webhooks resource, and delivery to a local receiver
(signed, retried with backoff, acknowledged only after success or giving up)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from taskq import maintenance
from taskq.webhooks import store as webhooks
from taskq.keys import WebhookKeys
from taskq.webhooks.store import GROUP, Deliverer
from taskq.worker_registry import WorkerRegistry

SECRET = "receiver-secret-0123456789"


class Receiver:
    """A tiny HTTP server on 127.0.0.1 recording POSTs; ``fail`` makes it answer 500."""

    def __init__(self):
        self.requests: list[tuple[dict, bytes]] = []
        self.fail = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                code = 500 if outer.fail else 200
                outer.fail = max(0, outer.fail - 1)
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        return [json.loads(b) for _, b in self.requests]


@pytest.fixture(autouse=True)
def allow_local_receivers(monkeypatch):
    """These receivers listen on 127.0.0.1, which webhooks refuse by default."""
    monkeypatch.setenv("TASKQ_WEBHOOK_ALLOW_NETS", "10.0.0.0/8,127.0.0.1/32")


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.server.shutdown()


def register(client, admin, url, **body):
    resp = client.post("/api/webhooks", json={"url": url, "secret": SECRET, **body}, headers=admin)
    assert resp.status_code == 201, resp.json
    return resp.json["data"]


def test_webhook_resource(client, admin):
    hook = register(client, admin, "https://example.com/hooks", events=["task.completed"], description="ops")
    assert hook["id"].startswith("wh_") and hook["secret"] == SECRET and hook["events"] == ["task.completed"]
    listed = client.get("/api/webhooks", headers=admin).json["data"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    one = client.get(f"/api/webhooks/{hook['id']}", headers=admin).json["data"]
    assert one["url"] == "https://example.com/hooks" and "secret" not in one and "stats" in one
    generated = client.post("/api/webhooks", json={"url": "http://10.0.0.1:8080/x"}, headers=admin).json["data"]
    assert len(generated["secret"]) >= 16 and generated["events"] == []
    for bad in ({"url": "ftp://x.example/y"}, {"url": "not a url"}, {},
                {"url": "https://x.example", "events": ["task.exploded"]},
                {"url": "https://x.example", "secret": "short"}):
        assert client.post("/api/webhooks", json=bad, headers=admin).status_code == 422, bad
    assert client.delete(f"/api/webhooks/{hook['id']}", headers=admin).status_code == 200
    assert client.delete(f"/api/webhooks/{hook['id']}", headers=admin).status_code == 404
    assert client.get(f"/api/webhooks/{hook['id']}", headers=admin).status_code == 404


def test_importing_the_module_registers_the_scheduler_step():
    assert webhooks.upkeep in maintenance.UPKEEP


def test_delivery_signed_in_document_format(client, admin, r, keys, dts, receiver):
    register(client, admin, receiver.url)
    d = Deliverer(r, keys)
    created = client.post("/api/tasks", json={"name": "Example Task", "command": "true"}, headers=admin).json["data"]
    [lease] = dts.claim(worker="worker-001")
    lease.complete("Task executed successfully")
    d.run_once()
    events = receiver.events()
    assert [e["event"] for e in events] == ["task.created", "task.started", "task.completed"]
    done = events[-1]
    assert set(done) == {"event", "timestamp", "task"} and done["timestamp"].endswith("Z")
    t = done["task"]
    assert t["id"] == created["id"] and t["name"] == "Example Task" and t["status"] == "completed"
    assert t["result"] == "Task executed successfully" and t["started_at"] and t["completed_at"]
    for headers, body in receiver.requests:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-taskq-signature"], expected)
        assert headers["content-type"] == "application/json" and headers["x-taskq-event"]
    assert r.xpending(keys.queue("dts").events, GROUP)["pending"] == 0   # all acked
    d.run_once()
    assert len(receiver.requests) == 3                                   # nothing twice


def test_all_eight_events_and_filters(client, admin, r, keys, dts, receiver):
    register(client, admin, receiver.url)
    only_failed = Receiver()
    try:
        register(client, admin, only_failed.url, events=["task.failed"])
        reg = WorkerRegistry(r, keys)
        reg.register("worker-9", ["dts"])
        a = dts.enqueue_call(None, meta={"name": "a"}, max_retries=1)
        [lease] = dts.claim()
        lease.fail("first")                       # retrying
        dts.update(a.id, scheduled_at=None)       # due now (skip the backoff)
        [lease] = dts.claim()
        lease.fail("second")                      # failed
        b = dts.enqueue_call(None)
        dts.cancel(b.id)                          # cancelled
        dts.enqueue_call(None)
        [lease] = dts.claim()
        lease.complete(None)                      # completed
        reg.deregister("worker-9")                # offline
        Deliverer(r, keys).run_once()
        got = {e["event"] for e in receiver.events()}
        assert got == set(webhooks.EVENTS)
        worker = next(e for e in receiver.events() if e["event"] == "worker.registered")
        assert worker["worker"]["id"] == "worker-9" and worker["worker"]["hostname"]
        assert [e["event"] for e in only_failed.events()] == ["task.failed"]
        assert only_failed.events()[0]["task"]["error"] == "second"
    finally:
        only_failed.server.shutdown()


def test_redelivery_after_failure_with_the_same_body(client, admin, r, keys, dts, receiver,
                                                   monkeypatch):
    # The deliverer's clock moves only when the test moves it: "still backing
    # off" holds however long a busy machine takes between two passes.
    clock = [webhooks._now_ms()]
    monkeypatch.setattr(webhooks, "_now_ms", lambda: clock[0])
    hook = register(client, admin, receiver.url, events=["task.created"])
    d = Deliverer(r, keys, backoff_base=0.05)
    receiver.fail = 2
    t = dts.enqueue_call(None, meta={"name": "retry me"})
    d.run_once()
    assert len(receiver.requests) == 1
    stream = keys.queue("dts").events
    assert r.xpending(stream, GROUP)["pending"] == 1                     # not acked yet
    d.run_once()                                                         # still backing off
    assert len(receiver.requests) == 1
    for _ in range(40):
        clock[0] += 1000  # past any backoff of the first attempts
        d.run_once()
        if r.xpending(stream, GROUP)["pending"] == 0:
            break
    assert len(receiver.requests) == 3
    bodies = {b for _, b in receiver.requests}
    deliveries = {h["x-taskq-delivery"] for h, _ in receiver.requests}
    assert len(bodies) == 1 and len(deliveries) == 1
    assert json.loads(bodies.pop())["task"]["id"] == t.id
    assert r.hlen(WebhookKeys(keys.prefix).pending) == 0
    stats = client.get(f"/api/webhooks/{hook['id']}", headers=admin).json["data"]["stats"]
    assert stats["delivered"] == 1 and stats["last_status"] == 200


def test_gives_up_after_max_attempts_then_acks(client, admin, r, keys, dts, receiver):
    hook = register(client, admin, receiver.url, events=["task.created"])
    receiver.fail = 100
    d = Deliverer(r, keys, max_attempts=3, backoff_base=0.01)
    dts.enqueue_call(None)
    for _ in range(60):
        d.run_once()
        if r.xpending(keys.queue("dts").events, GROUP)["pending"] == 0:
            break
        time.sleep(0.02)
    assert len(receiver.requests) == 3
    stats = client.get(f"/api/webhooks/{hook['id']}", headers=admin).json["data"]["stats"]
    assert stats["failed"] == 1 and stats["last_status"] == 500 and stats["last_error"]


def test_a_dead_endpoint_does_not_hold_up_a_live_one(client, admin, r, keys, dts, receiver):
    register(client, admin, "http://127.0.0.1:1/nothing-listens", events=["task.created"])
    register(client, admin, receiver.url, events=["task.created"])
    d = Deliverer(r, keys, backoff_base=10)
    dts.enqueue_call(None)
    dts.enqueue_call(None)
    d.run_once()
    assert len(receiver.requests) == 2
    assert r.xpending(keys.queue("dts").events, GROUP)["pending"] == 2   # the dead one still owes


def test_endpoints_get_only_events_after_they_were_registered(client, admin, r, keys, dts, receiver):
    dts.enqueue_call(None)
    time.sleep(0.005)
    register(client, admin, receiver.url)
    d = Deliverer(r, keys)
    d.run_once()
    assert receiver.requests == []
    dts.enqueue_call(None)
    d.run_once()
    assert [e["event"] for e in receiver.events()] == ["task.created"]


def test_step_without_endpoints_does_nothing(r, keys, dts):
    dts.enqueue_call(None)
    webhooks.upkeep(r, keys)
    assert not r.exists(WebhookKeys(keys.prefix).pending)


def test_the_scheduler_delivers_through_its_steps(client, admin, r, prefix, dts, receiver):
    from workers.upkeep import Upkeep
    register(client, admin, receiver.url, events=["task.created"])
    dts.enqueue_call(None)
    assert Upkeep(r, prefix=prefix, scheduler_id="s1").tick() is True
    assert [e["event"] for e in receiver.events()] == ["task.created"]
