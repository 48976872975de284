"""Every served OpenAPI document describes what the server does: schemathesis
runs all its checks (status codes, content types, headers, response bodies,
valid input accepted, invalid input refused, auth enforced) over each
operation of /api/docs.json and /tasker/api-docs.json, valid and invalid
input alike. A failure is a document and a server that disagree; fix the
side the dialect's API document says is wrong.

The budget per operation and mode is small by default;
TASKQ_TEST_CONFORMANCE_EXAMPLES sets a larger one on demand."""

from __future__ import annotations

import os

import pytest
import schemathesis
from apihelpers import EXAMPLE_TASK
from example_budget import examples
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup

MAX_EXAMPLES = int(os.environ.get("TASKQ_TEST_CONFORMANCE_EXAMPLES") or 0) or examples(8)
"""Examples per operation and mode (valid, then invalid input)."""
DOCUMENTS = {"/api/docs.json": 8, "/tasker/api-docs.json": 2}
"""Document -> shards: every shard-th operation runs in one test, so none
runs long enough to meet the per-test timeout on a loaded machine."""
VALID_REFUSED = "Schema-valid request rejected"
KNOWN: dict[tuple[str, str], str] = {
    ("POST /api/tasks", VALID_REFUSED):
        "a well-formed dependency id naming no task is refused 422 dependency_not_found",
    ("POST /api/projects/{project_id}/tasks", VALID_REFUSED):
        "a well-formed typeId naming no type of the project is refused 422 (a bad field value); "
        "and variables keys of 1-100 characters are documented as propertyNames, which the "
        "generator does not keep to",
    ("POST /api/webhooks", VALID_REFUSED):
        "url: only http(s) to a public address (the host is resolved); no schema says which",
    ("POST /tasks", VALID_REFUSED):
        "payload: registered steps checked against their signatures, or an existing handler; "
        "schedule_expr: a valid cron/rrule/time for its kind",
    ("POST /api/projects/{project_id}/tasks/bulk", VALID_REFUSED):
        "typeId naming no type, and variables keys, as above",
    ("POST /api/projects/{project_id}/tasks/bulk", "Schema-violating request accepted"):
        "a body over 1 MiB is refused 413 before it is read, a status the check does not count "
        "as a refusal (found at larger budgets)",
    ("PUT /api/tasks/{task_id}", VALID_REFUSED):
        "dependencies naming no task, and variables keys, as above",
}
"""(operation, check) -> why the document and the server still disagree
there: a failure listed here may be found, any other fails the test (a
small budget need not meet every listed one)."""

load_all_checks()
CHECKS_ALL = CHECKS.get_all()


@pytest.fixture
def conformance_app(make_app, dts, admin):
    """An app with something to find: DTS tasks (one running), a TaskDriver
    project with a task type and a task."""
    dts.enqueue_call(None, meta={"name": "seed", "checkpoint_enabled": True})
    dts.enqueue_call(None)
    dts.claim()
    app = make_app(TASKQ_RATE_LIMIT="0", TASKQ_TASKER_RATE_LIMIT="0")
    c = app.test_client()
    assert c.post("/api/tasks", json=EXAMPLE_TASK, headers=admin).status_code == 201
    pid = c.post("/api/projects", json={"name": "ai-analysis"}, headers=admin).json["data"]["id"]
    tt = c.post(f"/api/projects/{pid}/task-types", json={"name": "t1"}, headers=admin).json["data"]
    assert c.post(f"/api/projects/{pid}/tasks", json={"typeId": tt["id"], "instructions": "go"},
                  headers=admin).status_code == 201
    return app


def _label(op) -> str:
    return f"{op.method.upper()} {op.path}"


CASES = [(doc, shard) for doc, shards in DOCUMENTS.items() for shard in range(shards)]


@pytest.mark.parametrize(("document", "shard"), CASES, ids=[f"{d}-{s}" for d, s in CASES])
def test_document_describes_the_server(conformance_app, admin, document, shard):
    schema = schemathesis.openapi.from_wsgi(document, conformance_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    found: dict[tuple[str, str], str] = {}
    for op in operations[shard::DOCUMENTS[document]]:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(generation_mode=mode))
            def run(case):
                response = case.call(headers=admin)
                try:
                    case.validate_response(response, checks=CHECKS_ALL, headers=admin)
                except FailureGroup as group:
                    for failure in group.exceptions:
                        key = (_label(op), failure.title)
                        found.setdefault(key, f"{case.method} {case.formatted_path} "
                                              f"{str(case.body)[:200]} -> {response.status_code} "
                                              f"{response.text[:300]}")

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (an operation without inputs)
                assert mode == schemathesis.GenerationMode.NEGATIVE
    unexpected = {k: v for k, v in found.items() if k not in KNOWN}
    assert not unexpected, "\n".join(f"{op} [{check}]\n    {example}"
                                     for (op, check), example in sorted(unexpected.items()))
