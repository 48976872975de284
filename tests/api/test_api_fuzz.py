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
operation of the document: about a minute at 20, over all shards."""
SHARDS = 6
"""The document's operations are fuzzed in this many tests (every SHARDS-th
operation each), so none runs long enough to meet the per-test timeout on a
loaded machine."""


@pytest.fixture
def fuzz_app(make_app, dts):
    # something to find: tasks, a running one, a worker
    dts.enqueue_call(None, meta={"name": "seed", "checkpoint_enabled": True})
    dts.enqueue_call(None)
    dts.claim()
    return make_app(TASKQ_RATE_LIMIT="0")


@pytest.mark.parametrize("shard", range(SHARDS))
def test_no_operation_answers_5xx(fuzz_app, admin, shard):
    schema = schemathesis.openapi.from_wsgi("/api/docs.json", fuzz_app)
    failures, seen = [], []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    operations = operations[shard::SHARDS]

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
    # both valid and refused input got through
    assert any(s < 300 for s in seen) and any(400 <= s < 500 for s in seen), sorted(set(seen))
