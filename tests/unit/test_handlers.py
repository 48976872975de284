"""Workflow handler definitions: YAML and Python loading, versions side by
side, and every refusal at load time naming the file and the step."""

from __future__ import annotations

import pytest

from taskq.errors import TaskqValueError
from taskq.workflows import (Handler, HandlerDefinitionError, Registry, handler, load_configured,
                             parse_handler, registry, semver_key)
from taskq.workflows.examples import load_examples

STEP = "taskq.workflows.examples.payments.ValidatePaymentHandler"


def definition(steps=None, version="1.0.0", **extra):
    return {"namespace": "shop", "name": "checkout", "version": version,
            "step_templates": steps or [{"name": "a", "handler_class": STEP}], **extra}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


DIAMOND_YAML = """
namespaces:
  shop: The shop's workflows
handlers:
  - namespace: shop
    name: diamond
    version: "1.2.0"
    description: fan out and join
    step_templates:
      - {name: a, handler_class: pkg.steps.A}
      - {name: b, handler_class: pkg.steps.B, depends_on_step: a}
      - {name: c, handler_class: pkg.steps.C, depends_on_step: [a]}
      - {name: d, handler_class: pkg.steps.D, depends_on_step: [b, c], skippable: true,
         custom_events: [shop.done]}
"""


def test_yaml_folder_loads_a_diamond(tmp_path):
    write(tmp_path, "shop.yaml", DIAMOND_YAML)
    write(tmp_path, "notes.txt", "not a handler")
    reg = Registry()
    reg.load_folder(tmp_path)
    h = reg.get("shop", "diamond")
    assert h.full_name == "shop.diamond@1.2.0" and h.description == "fan out and join"
    assert reg.namespaces == {"shop": "The shop's workflows"}
    assert h.step("d").depends_on == ["b", "c"] and h.step("b").depends_on == ["a"]
    assert h.step("a").depends_on_step is None
    assert h.step("d").custom_events == ("shop.done",) and h.step("d").skippable
    order = h.execution_order
    assert order[0] == "a" and order[-1] == "d" and set(order) == {"a", "b", "c", "d"}
    assert sorted(h.edges) == [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    # defaults of a step that names none
    a = h.step("a")
    assert (a.default_retryable, a.default_retry_limit, a.skippable, a.custom_events) == (True, 3, False, ())


def test_taskq_handlers_path_setting(tmp_path):
    write(tmp_path, "shop.yml", DIAMOND_YAML)
    reg = load_configured(Registry(), env={"TASKQ_HANDLERS_PATH": str(tmp_path)})
    assert [x.full_name for x in reg.handlers()] == ["shop.diamond@1.2.0"]
    assert load_configured(Registry(), env={}).handlers() == []


def test_versions_live_side_by_side_and_latest_is_the_highest_semver():
    reg = Registry()
    for v in ("1.10.0", "1.9.3", "2.0.0-rc.1", "1.2.0"):
        reg.register(definition(version=v))
    assert reg.versions("shop", "checkout") == ["1.2.0", "1.9.3", "1.10.0", "2.0.0-rc.1"]
    reg.register(definition(version="2.0.0"))
    assert reg.get("shop", "checkout").version == "2.0.0"
    assert reg.get("shop", "checkout", "latest").version == "2.0.0"
    assert reg.get("shop", "checkout", "1.9.3").version == "1.9.3"
    assert reg.resolve("shop.checkout@1.10.0").version == "1.10.0"
    assert reg.resolve("shop.checkout").version == "2.0.0"
    assert reg.get("shop", "checkout", "3.0.0") is None and reg.get("shop", "nope") is None
    assert semver_key("2.0.0-rc.1") < semver_key("2.0.0") < semver_key("10.0.0")


def test_python_decorator_registers_in_the_process_registry():
    @handler("pydemo", "fanout", "0.1.0", description="from Python", namespace_description="Demo")
    def fanout():
        return [{"name": "a", "handler_class": STEP},
                {"name": "b", "handler_class": STEP, "depends_on_step": "a"}]

    h = registry.get("pydemo", "fanout")
    assert h.description == "from Python" and registry.namespaces["pydemo"] == "Demo"
    assert h.source.endswith("fanout") and h.execution_order == ["a", "b"]


def refusal(tmp_path, yaml_text):
    path = write(tmp_path, "bad.yaml", yaml_text)
    with pytest.raises(HandlerDefinitionError) as exc:
        Registry().load_yaml(path)
    assert isinstance(exc.value, TaskqValueError)
    assert str(path) in str(exc.value)
    return exc.value


def yaml_handler(steps: str, version='"1.0.0"') -> str:
    return f"namespace: shop\nname: h\nversion: {version}\nstep_templates:\n{steps}"


def test_a_cycle_is_refused_naming_file_and_step(tmp_path):
    err = refusal(tmp_path, yaml_handler(
        "  - {name: a, handler_class: p.A, depends_on_step: c}\n"
        "  - {name: b, handler_class: p.B, depends_on_step: a}\n"
        "  - {name: c, handler_class: p.C, depends_on_step: [b]}\n"))
    assert "cycle" in str(err) and err.step in {"a", "b", "c"}
    assert "a -> " in str(err) or "b -> " in str(err) or "c -> " in str(err)


def test_self_dependency_is_refused(tmp_path):
    err = refusal(tmp_path, yaml_handler("  - {name: a, handler_class: p.A, depends_on_step: a}\n"))
    assert err.step == "a" and "itself" in str(err)


def test_unknown_step_reference_is_refused(tmp_path):
    err = refusal(tmp_path, yaml_handler(
        "  - {name: a, handler_class: p.A}\n"
        "  - {name: b, handler_class: p.B, depends_on_step: [a, ghost]}\n"))
    assert err.step == "b" and "unknown step 'ghost'" in str(err)


def test_duplicate_step_name_is_refused(tmp_path):
    err = refusal(tmp_path, yaml_handler(
        "  - {name: a, handler_class: p.A}\n  - {name: a, handler_class: p.B}\n"))
    assert err.step == "a" and "duplicate" in str(err)


def test_duplicate_handler_version_is_refused(tmp_path):
    one = yaml_handler("  - {name: a, handler_class: p.A}\n")
    two = yaml_handler("  - {name: a, handler_class: p.B}\n")
    reg = Registry()
    reg.load_yaml(write(tmp_path, "one.yaml", one))
    reg.load_yaml(write(tmp_path, "one.yaml", one))  # the same definition again is fine
    with pytest.raises(HandlerDefinitionError, match="already defined"):
        reg.load_yaml(write(tmp_path, "two.yaml", two))


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.0.0", "1.0.0.0", "latest", "1.0.0-", "1.0.0+"])
def test_bad_versions_are_refused(tmp_path, version):
    err = refusal(tmp_path, yaml_handler("  - {name: a, handler_class: p.A}\n", f'"{version}"'))
    assert "semantic version" in str(err)


def test_an_unquoted_yaml_version_read_as_a_number_is_refused(tmp_path):
    err = refusal(tmp_path, yaml_handler("  - {name: a, handler_class: p.A}\n", "1.0"))
    assert "quote it" in str(err)


@pytest.mark.parametrize("step, words", [
    ("{name: a}", "handler_class"),
    ("{name: a, handler_class: 'Payments::Step'}", "dotted"),
    ("{name: A B, handler_class: p.A}", "lowercase"),
    ("{name: a, handler_class: p.A, default_retry_limit: -1}", "default_retry_limit"),
    ("{name: a, handler_class: p.A, default_retry_limit: 'x'}", "default_retry_limit"),
    ("{name: a, handler_class: p.A, default_retryable: 'yes'}", "default_retryable"),
    ("{name: a, handler_class: p.A, skippable: 1}", "skippable"),
    ("{name: a, handler_class: p.A, custom_events: 'x'}", "custom_events"),
    ("{name: a, handler_class: p.A, custom_events: ['has space']}", "custom_events"),
    ("{name: a, handler_class: p.A, custom_events: [task.completed]}", "custom_events"),
    ("{name: a, handler_class: p.A, custom_events: [worker.offline]}", "custom_events"),
    ("{name: a, handler_class: p.A, depends_on_step: [b, b]}", "twice"),
    ("{name: a, handler_class: p.A, retries: 3}", "unknown field"),
])
def test_bad_step_fields_are_refused(tmp_path, step, words):
    err = refusal(tmp_path, yaml_handler(f"  - {step}\n"))
    assert words in str(err)


def test_bad_documents_are_refused(tmp_path):
    assert "not valid YAML" in str(refusal(tmp_path, "namespace: [unclosed"))
    assert "step_templates" in str(refusal(tmp_path, "namespace: shop\nname: h\nversion: '1.0.0'\n"))
    assert "mapping" in str(refusal(tmp_path, "- just a string\n"))
    with pytest.raises(HandlerDefinitionError, match="not a folder"):
        Registry().load_folder(tmp_path / "missing")


def test_python_register_refuses_like_yaml():
    with pytest.raises(HandlerDefinitionError, match="python: step 'b': depends on unknown step 'z'"):
        parse_handler(definition([{"name": "a", "handler_class": STEP},
                                  {"name": "b", "handler_class": STEP, "depends_on_step": "z"}]))


# -- the example set ----------------------------------------------------------

DOCUMENT_PROCESS_PAYMENT = [
    {"name": "validate_payment", "description": "Validate payment details and customer information",
     "depends_on_step": None, "default_retryable": False, "default_retry_limit": 0,
     "skippable": False, "custom_events": []},
    {"name": "charge_card", "description": "Process payment through payment gateway",
     "depends_on_step": "validate_payment", "default_retryable": True, "default_retry_limit": 3,
     "skippable": False, "custom_events": ["payment.gateway.charged"]},
    {"name": "update_order", "description": "Update order status after successful payment",
     "depends_on_step": "charge_card", "default_retryable": True, "default_retry_limit": 2,
     "skippable": False, "custom_events": []},
    {"name": "send_confirmation", "description": "Send payment confirmation email to customer",
     "depends_on_step": "update_order", "default_retryable": True, "default_retry_limit": 5,
     "skippable": True, "custom_events": ["notification.email.sent"]},
]


def test_example_process_payment_matches_the_document():
    reg = Registry()
    load_examples(reg)
    h = reg.get("payments", "process_payment", "2.1.0")
    assert h.description == "Process customer payment with validation and confirmation"
    got = [{k: v for k, v in s.to_dict().items() if k != "handler_class"} for s in h.steps]
    assert got == DOCUMENT_PROCESS_PAYMENT
    assert all(s.handler_class.startswith("taskq.workflows.examples.") for s in h.steps)
    assert h.execution_order == [s["name"] for s in DOCUMENT_PROCESS_PAYMENT]
    assert h.edges == [("validate_payment", "charge_card"), ("charge_card", "update_order"),
                       ("update_order", "send_confirmation")]


def test_example_namespaces_and_handlers_match_the_document():
    reg = load_configured(Registry(), env={"TASKQ_EXAMPLES": "1"})
    assert reg.namespaces == {"payments": "Payment processing workflows",
                              "inventory": "Inventory management workflows",
                              "notifications": "Notification and messaging workflows"}
    names = {}
    for h in reg.handlers():
        names.setdefault(h.namespace, set()).add(h.name)
    assert names == {
        "payments": {"process_payment", "refund_payment", "validate_card", "process_subscription",
                     "cancel_subscription"},
        "inventory": {"update_stock", "process_order", "check_availability"},
        "notifications": {"send_email", "send_sms", "push_notification", "alert_admin"}}
    refund = reg.get("payments", "refund_payment")
    assert refund.version == "1.5.0" and refund.description == "Process customer refund with validation"
    assert [s.name for s in refund.steps] == ["validate_refund", "process_refund", "notify_customer"]


def test_every_example_step_class_imports():
    from taskq.workflows.handlers import load_step

    reg = load_configured(Registry(), env={"TASKQ_EXAMPLES": "1"})
    for h in reg.handlers():
        for s in h.steps:
            assert callable(load_step(s.handler_class)), s.handler_class
    assert isinstance(reg.get("payments", "process_payment"), Handler)


def test_dependency_graph_of_the_example_matches_the_document():
    from taskq.workflows import dependency_graph

    reg = Registry()
    load_examples(reg)
    assert dependency_graph(reg.get("payments", "process_payment")) == {
        "nodes": ["validate_payment", "charge_card", "update_order", "send_confirmation"],
        "edges": [{"from": "validate_payment", "to": "charge_card"},
                  {"from": "charge_card", "to": "update_order"},
                  {"from": "update_order", "to": "send_confirmation"}],
        "execution_order": ["validate_payment", "charge_card", "update_order", "send_confirmation"]}


def _wf(status, **steps):
    deps = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    return {"status": status, "steps": [{"name": n, "status": st, "depends_on": deps[n]}
                                        for n, st in steps.items()]}


def test_dependency_analysis_of_a_diamond():
    from taskq.workflows import dependency_analysis

    got = dependency_analysis(_wf("in_progress", a="complete", b="in_progress", c="skipped", d="pending"))
    assert got == {"analysis": "Task is progressing normally through dependency chain",
                   "blocked_steps": ["d"], "ready_steps": ["b"], "completed_steps": ["a"]}
    got = dependency_analysis(_wf("pending", a="pending", b="pending", c="pending", d="pending"))
    assert got["ready_steps"] == ["a"] and got["blocked_steps"] == ["b", "c", "d"]
    got = dependency_analysis(_wf("error", a="complete", b="error", c="complete", d="cancelled"))
    assert got["ready_steps"] == [] and "failed at b" in got["analysis"]
