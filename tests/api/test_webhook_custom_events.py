"""Custom events of workflow steps delivered by webhooks, end to end: steps
run by a real `taskq worker`, an endpoint registered over HTTP for a custom
event name, delivery to a receiving server on 127.0.0.1, one signed POST
per step completion and event name."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apihelpers import bearer
from test_api_webhooks import SECRET, Receiver

from taskq.webhooks.store import GROUP, Deliverer
from taskq.workflows import WORKFLOW_QUEUE, Registry, create, get
from taskq.workflows.examples import load_examples

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def allow_local_receivers(monkeypatch):
    monkeypatch.setenv("TASKQ_WEBHOOK_ALLOW_NETS", "127.0.0.1/32")


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make() -> Receiver:
        made.append(Receiver())
        return made[-1]
    yield make
    for rec in made:
        rec.server.shutdown()


def register(client, headers, url, **body):
    return client.post("/api/webhooks", json={"url": url, "secret": SECRET, **body}, headers=headers)


def run_workflows(r, redis_url, prefix, ids):
    env = dict(os.environ, REDIS_URL=redis_url, TASKQ_PREFIX=prefix,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for _ in range(6):
        out = subprocess.run([sys.executable, "-m", "taskq.cli", "worker", "--burst", "-q",
                              WORKFLOW_QUEUE], env=env, cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        wfs = [get(r, wid, prefix=prefix) for wid in ids]
        if all(wf["status"] == "complete" for wf in wfs):
            return wfs
        time.sleep(0.3)
    raise AssertionError([wf["steps"] for wf in wfs])


def test_a_custom_event_reaches_its_subscribers_once_per_step_completion(
        client, admin, r, keys, prefix, redis_url, receivers):
    charged, both, dts_only, everything = receivers(), receivers(), receivers(), receivers()
    for rec, events in ((charged, ["payment.gateway.charged"]),
                        (both, ["payment.gateway.charged", "notification.email.sent"])):
        resp = register(client, admin, rec.url, events=events, queues=[WORKFLOW_QUEUE])
        assert resp.status_code == 201, resp.json
        assert resp.json["data"]["events"] == events
    # the default queues (the DTS queue) do not cover the workflow queue
    assert register(client, admin, dts_only.url, events=["payment.gateway.charged"]).status_code == 201
    # no events listed: every event of the covered queues, custom ones too
    assert register(client, admin, everything.url, queues=[WORKFLOW_QUEUE]).status_code == 201

    reg = Registry()
    load_examples(reg)
    ids = [create(r, "payments.process_payment", version="2.1.0", registry=reg, prefix=prefix,
                  context={"payment_id": n, "amount": 10 * n, "currency": "USD",
                           "customer_id": n})["id"] for n in (1, 2)]
    wfs = {wf["id"]: wf for wf in run_workflows(r, redis_url, prefix, ids)}
    d = Deliverer(r, keys)
    d.run_once()

    got = charged.events()
    assert [e["event"] for e in got] == ["payment.gateway.charged"] * 2
    assert sorted(e["workflow"]["id"] for e in got) == sorted(ids)
    for e in got:
        wf = wfs[e["workflow"]["id"]]
        step = next(s for s in wf["steps"] if s["name"] == "charge_card")
        assert e["workflow"] == {"id": wf["id"], "namespace": "payments",
                                 "name": "process_payment", "version": "2.1.0"}
        assert e["step"] == {"name": "charge_card", "task_id": step["task_id"],
                             "results": step["results"], "attempts": 1,
                             "completed_at": e["step"]["completed_at"]}
        assert e["step"]["results"]["status"] == "succeeded" and e["timestamp"].endswith("Z")
    for headers, body in charged.requests:
        assert headers["x-taskq-event"] == "payment.gateway.charged"
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-taskq-signature"], expected)

    assert sorted(e["event"] for e in both.events()) == (
        ["notification.email.sent"] * 2 + ["payment.gateway.charged"] * 2)
    sent = next(e for e in both.events() if e["event"] == "notification.email.sent")
    assert sent["step"]["name"] == "send_confirmation" and sent["step"]["results"]["sent_to"]
    assert dts_only.requests == []
    custom = [e for e in everything.events() if "step" in e]
    assert len(custom) == 4 and {e["event"] for e in everything.events()} >= {
        "task.created", "task.completed", "payment.gateway.charged", "notification.email.sent"}

    d.run_once()  # nothing twice, everything acknowledged
    assert len(charged.requests) == 2 and len(both.requests) == 4
    assert r.xpending(keys.queue(WORKFLOW_QUEUE).events, GROUP)["pending"] == 0


def test_custom_event_subscriptions_follow_the_queue_rules(client, receivers):
    rec = receivers()
    writer = bearer("webhooks:write")
    # the workflow queue is not the DTS queue: its events need admin
    resp = register(client, writer, rec.url, events=["payment.gateway.charged"],
                    queues=[WORKFLOW_QUEUE])
    assert resp.status_code == 403 and resp.json["error"]["code"] == "insufficient_scope"
    assert register(client, writer, rec.url, events=["payment.gateway.charged"]).status_code == 201
    for bad in (["task.exploded"], ["worker.gone"], ["has space"], ["x" * 200], [""], [7],
                ["ok.name"] * 1 + [f"e{i}" for i in range(100)]):
        resp = register(client, writer, rec.url, events=bad)
        assert resp.status_code == 422, (bad, resp.json)
