"""Tasker handler discovery against the document's examples: namespaces,
a namespace's handlers, one handler's step templates and dependency graph;
versions; the document's 404s; only what workers published is listed."""

from __future__ import annotations

from tasker_helpers import error_of, examples  # noqa: F401  (fixture)

from taskq.workflows import Registry, publish

DOC_NAMESPACES = {
    "payments": ("Payment processing workflows", {"process_payment", "refund_payment", "validate_card",
                                                  "process_subscription", "cancel_subscription"}),
    "inventory": ("Inventory management workflows", {"update_stock", "process_order", "check_availability"}),
    "notifications": ("Notification and messaging workflows",
                      {"send_email", "send_sms", "push_notification", "alert_admin"}),
}
ORDER = ["validate_payment", "charge_card", "update_order", "send_confirmation"]


def test_namespaces_as_the_document_lists_them(client, admin, examples):
    resp = client.get("/tasker/handlers", headers=admin)
    assert resp.status_code == 200 and list(resp.json) == ["namespaces"]
    got = {ns["name"]: ns for ns in resp.json["namespaces"]}
    assert set(got) == set(DOC_NAMESPACES)
    for name, (description, handlers) in DOC_NAMESPACES.items():
        ns = got[name]
        assert list(ns) == ["name", "description", "handler_count", "handlers"]
        assert ns["description"] == description
        assert set(ns["handlers"]) == handlers and ns["handler_count"] == len(handlers)


def test_a_namespace_lists_its_handlers(client, admin, examples):
    resp = client.get("/tasker/handlers/payments", headers=admin)
    assert resp.status_code == 200
    assert resp.json["namespace"] == "payments"
    by_id = {h["id"]: h for h in resp.json["handlers"]}
    assert set(by_id) == DOC_NAMESPACES["payments"][1]
    assert by_id["process_payment"] == {
        "id": "process_payment", "namespace": "payments", "version": "2.1.0",
        "description": "Process customer payment with validation and confirmation",
        "step_count": 4, "step_names": ORDER, "versions": ["2.1.0"]}
    refund = by_id["refund_payment"]
    assert (refund["version"], refund["step_count"], refund["step_names"]) == (
        "1.5.0", 3, ["validate_refund", "process_refund", "notify_customer"])


def test_handler_details_with_the_dependency_graph(client, admin, examples):
    resp = client.get("/tasker/handlers/payments/process_payment?version=2.1.0", headers=admin)
    assert resp.status_code == 200
    d = resp.json
    assert (d["id"], d["namespace"], d["version"]) == ("process_payment", "payments", "2.1.0")
    assert d["description"] == "Process customer payment with validation and confirmation"
    # the example's templates, which tests/unit/test_handlers.py holds to the document's
    example = examples.get("payments", "process_payment", "2.1.0")
    assert d["step_templates"] == [s.to_dict() for s in example.steps]
    assert [list(s) for s in d["step_templates"]] == [[
        "name", "description", "handler_class", "depends_on_step", "default_retryable",
        "default_retry_limit", "skippable", "custom_events"]] * 4
    assert d["dependency_graph"] == {
        "nodes": ORDER,
        "edges": [{"from": "validate_payment", "to": "charge_card"},
                  {"from": "charge_card", "to": "update_order"},
                  {"from": "update_order", "to": "send_confirmation"}],
        "execution_order": ORDER}
    # no version: the latest
    assert client.get("/tasker/handlers/payments/process_payment", headers=admin).json == d


def _two_versions(r, prefix):
    reg = Registry()
    for version, steps in (("1.0.0", ["a"]), ("1.10.0", ["a", "b"]), ("1.9.0", ["a"])):
        reg.register({"namespace": "shop", "name": "ship", "version": version,
                      "namespace_description": "Shipping", "step_templates": [
                          {"name": n, "handler_class": "pkg.steps.Step",
                           "depends_on_step": None if i == 0 else steps[i - 1]}
                          for i, n in enumerate(steps)]})
    publish(r, reg, prefix=prefix)


def test_versions_side_by_side_latest_by_semver(client, admin, r, prefix):
    _two_versions(r, prefix)
    [h] = client.get("/tasker/handlers/shop", headers=admin).json["handlers"]
    assert h["version"] == "1.10.0" and h["versions"] == ["1.0.0", "1.9.0", "1.10.0"]
    assert h["step_names"] == ["a", "b"]
    old = client.get("/tasker/handlers/shop/ship?version=1.9.0", headers=admin).json
    assert old["version"] == "1.9.0" and old["dependency_graph"]["edges"] == []
    assert client.get("/tasker/handlers", headers=admin).json["namespaces"] == [
        {"name": "shop", "description": "Shipping", "handler_count": 1, "handlers": ["ship"]}]


def test_the_documents_not_found_errors(client, admin, examples):
    err = error_of(client.get("/tasker/handlers/unknown_namespace", headers=admin), 404, "NAMESPACE_NOT_FOUND")
    assert err == {"type": "NamespaceNotFound", "message": "Namespace 'unknown_namespace' does not exist",
                   "code": "NAMESPACE_NOT_FOUND"}
    err = error_of(client.get("/tasker/handlers/payments/unknown_handler?version=1.0.0", headers=admin),
                   404, "HANDLER_NOT_FOUND")
    assert err == {"type": "HandlerNotFound", "code": "HANDLER_NOT_FOUND",
                   "message": "Handler 'unknown_handler' not found in namespace 'payments' version '1.0.0'"}
    err = error_of(client.get("/tasker/handlers/payments/process_payment?version=9.9.9", headers=admin),
                   404, "HANDLER_NOT_FOUND")
    assert "version '9.9.9'" in err["message"]
    error_of(client.get("/tasker/handlers/nope/process_payment", headers=admin), 404, "NAMESPACE_NOT_FOUND")


def test_a_bad_version_is_422(client, admin, examples):
    for bad in ("2.1", "v2.1.0", "latest", "2.1.0.0", "%F0%9F%98%80", "1" * 5000):
        err = error_of(client.get(f"/tasker/handlers/payments/process_payment?version={bad}", headers=admin),
                       422, "VALIDATION_ERROR")
        assert err["details"] == {"version": ["must be a valid semantic version"]}, bad


def test_only_what_workers_published_is_listed(client, admin, r, prefix, monkeypatch):
    """A handler this (web) process has in its own registry is neither
    listed nor started: the web side serves exactly what workers published."""
    from taskq.workflows import engine

    local = Registry()
    local.register({"namespace": "local", "name": "only_here", "version": "1.0.0",
                    "step_templates": [{"name": "s", "handler_class": "pkg.steps.Step"}]})
    monkeypatch.setattr(engine, "_process", local)
    assert client.get("/tasker/handlers", headers=admin).json == {"namespaces": []}
    error_of(client.get("/tasker/handlers/local", headers=admin), 404, "NAMESPACE_NOT_FOUND")
    error_of(client.post("/tasker/tasks", json={"namespace": "local", "name": "only_here"}, headers=admin),
             404, "HANDLER_NOT_FOUND")
    publish(r, local, prefix=prefix)
    assert [ns["name"] for ns in client.get("/tasker/handlers", headers=admin).json["namespaces"]] == ["local"]
