"""A handler definition stored in Redis that does not load (written by hand
or by an older taskq) is skipped, with a log line, by every read: the
handler lists and show, task creation and health status answer as if it
were absent (and count it), never 500, and the good ones stay served."""

from __future__ import annotations

import json
import logging

import pytest

from taskq.keys import WorkflowKeys
from taskq.workflows import published

GOOD = {"namespace": "ok", "name": "good", "version": "1.0.0",
        "step_templates": [{"name": "a", "handler_class": "tests.integration.workflow_steps.Source"}]}


def _chain(n):
    return [{"name": f"s{i}", "handler_class": "p.Step", **({"depends_on_step": f"s{i - 1}"} if i else {})}
            for i in range(n)]


BAD = {
    "bad.chain@1.0.0": json.dumps({**GOOD, "namespace": "bad", "name": "chain", "step_templates": _chain(1200)}),
    "bad.cycle@1.0.0": json.dumps({**GOOD, "namespace": "bad", "name": "cycle", "step_templates": [
        {"name": "a", "handler_class": "p.A", "depends_on_step": "b"},
        {"name": "b", "handler_class": "p.B", "depends_on_step": "a"}]}),
    "bad.json@1.0.0": "{not json",
    "bad.deep@1.0.0": "[" * 100_000 + "]" * 100_000,
    "bad.missing@1.0.0": json.dumps({"namespace": "bad", "name": "missing"}),
    "bad.types@1.0.0": json.dumps({**GOOD, "namespace": "bad", "name": "types", "step_templates": [[1], {}]}),
    "bad.surrogate@1.0.0": '{"namespace": "bad", "name": "\\udfff"}',
    "bad.elsewhere@1.0.0": json.dumps(GOOD),  # filed under a name it does not define
    "ok.good@2.0.0": json.dumps({**GOOD, "version": "2.0.0", "step_templates": [{"name": "a"}]}),
}
"""Every way a stored definition can fail to load, one per entry."""


@pytest.fixture
def stored(r, prefix):
    r.hset(WorkflowKeys(prefix).handlers, mapping={"ok.good@1.0.0": json.dumps(GOOD), **BAD})


def test_the_catalog_skips_each_bad_definition_with_a_log_line(r, prefix, stored, caplog):
    with caplog.at_level(logging.WARNING, logger="taskq.workflows"):
        reg = published(r, prefix)
    assert [h.full_name for h in reg.handlers()] == ["ok.good@1.0.0"]
    assert sorted(reg.skipped) == sorted(BAD)
    logged = [rec.getMessage() for rec in caplog.records if rec.name == "taskq.workflows"]
    assert len(logged) == len(BAD) and all(m.startswith("skipping the published handler") for m in logged)
    assert any("has 1200 steps" in m for m in logged) and any("dependency cycle a -> b -> a" in m for m in logged)


def test_every_tasker_read_path_serves_the_good_and_not_the_bad(client, admin, stored):
    listed = client.get("/tasker/handlers", headers=admin)
    assert listed.status_code == 200
    assert [(n["name"], n["handlers"]) for n in listed.json["namespaces"]] == [("ok", ["good"])]
    assert client.get("/tasker/handlers/ok", headers=admin).json["handlers"][0]["versions"] == ["1.0.0"]
    shown = client.get("/tasker/handlers/ok/good", headers=admin)
    assert shown.status_code == 200 and shown.json["dependency_graph"]["execution_order"] == ["a"]
    assert client.get("/tasker/handlers/ok/good?version=2.0.0", headers=admin).status_code == 404
    for name in ("chain", "cycle", "missing", "types"):
        resp = client.get(f"/tasker/handlers/bad/{name}", headers=admin)
        assert resp.status_code == 404 and resp.json["error"]["code"] == "NAMESPACE_NOT_FOUND", name
        resp = client.post("/tasker/tasks", json={"namespace": "bad", "name": name, "version": "1.0.0",
                                                  "context": {}}, headers=admin)
        assert resp.status_code == 404 and resp.json["error"]["code"] == "HANDLER_NOT_FOUND", name
    made = client.post("/tasker/tasks", json={"namespace": "ok", "name": "good", "version": "1.0.0",
                                              "context": {}}, headers=admin)
    assert made.status_code == 201, made.json
    health = client.get("/tasker/health/status", headers=admin)
    assert health.status_code == 200 and health.json["status"] == "degraded"
    assert health.json["handlers"] == {"published": 1, "namespaces": 1, "invalid": len(BAD)}
