"""Property-based fuzzing of the whole OpenAPI document with schemathesis:
whatever the generated input (valid or not), no operation answers 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from example_budget import examples
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

MAX_EXAMPLES = examples(20)
"""Examples per operation and mode (valid, then invalid input), for every
operation of the document: under a minute at 20."""


@pytest.fixture
def fuzz_app(make_app, dts):
    # something to find: tasks, a running one, a worker
    dts.enqueue_call(None, meta={"name": "seed", "checkpoint_enabled": True})
    dts.enqueue_call(None)
    dts.claim()
    return make_app(TASKQ_RATE_LIMIT="0")


def test_no_operation_answers_5xx(fuzz_app, admin):
    schema = schemathesis.openapi.from_wsgi("/api/docs.json", fuzz_app)
    failures, seen = [], []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    cases = [(op, mode) for op in operations
             for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)]
    for op, mode in cases:
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy(generation_mode=mode))
        def run(case):
            resp = case.call(headers=admin)
            seen.append(resp.status_code)
            if resp.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {resp.status_code}: "
                                f"{resp.text[:300]}")
            body = resp.text
            assert "Traceback" not in body

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (an operation without inputs)
            assert mode == schemathesis.GenerationMode.NEGATIVE
    assert not failures, "\n".join(failures[:20])
    assert {200, 201, 404, 422} <= set(seen)   # both valid and refused input got through
