"""OpenTelemetry (taskq.tracing), with the SDK's in-memory exporter: one
trace from an HTTP create through a worker's run of the task, a retry as a
second attempt span, a failed attempt's ERROR status and exception event,
async def tasks, and workflow steps as children of their workflow's span."""

from __future__ import annotations


import pytest

from tests.aio_run import run as run_async  # noqa: E402

trace = pytest.importorskip("opentelemetry.trace")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from taskq import tracing  # noqa: E402
from workers.pool import PoolWorker  # noqa: E402

T = "tests.workers.pool_tasks"
A = "tests.workers.async_tasks"


class _WhileOn(SpanProcessor):
    """Forwards ended spans to the exporter only while a test here runs (the
    tracer provider is process-wide and set once)."""

    def __init__(self, exporter):
        self.inner, self.on = SimpleSpanProcessor(exporter), False

    def on_end(self, span) -> None:
        if self.on:
            self.inner.on_end(span)


EXPORTER = InMemorySpanExporter()
_FORWARD = _WhileOn(EXPORTER)


@pytest.fixture
def spans(monkeypatch, redis_url):
    monkeypatch.setenv("REDIS_URL", redis_url)
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(_FORWARD)
        trace.set_tracer_provider(provider)
    assert tracing.recording()
    EXPORTER.clear()
    _FORWARD.on = True
    yield EXPORTER
    _FORWARD.on = False
    EXPORTER.clear()


def attempts(exporter, task_id: str) -> list:
    return [s for s in exporter.get_finished_spans()
            if s.attributes.get("taskq.task.id") == task_id]


def test_one_trace_from_an_http_create_through_the_worker(spans, make_app, admin, r, prefix,
                                                          monkeypatch):
    monkeypatch.setenv("TASKQ_ALLOW_COMMANDS", "1")
    client = make_app().test_client()  # made while spans are recorded: its requests are spans
    resp = client.post("/api/tasks", json={"name": "traced", "command": "echo traced"},
                       headers=admin)
    assert resp.status_code == 201, resp.get_json()
    task_id = resp.get_json()["data"]["id"]
    PoolWorker(r, ["dts"], prefix=prefix).run(burst=True)
    [server] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    [run] = [s for s in spans.get_finished_spans() if s.name == "taskq.run command"]
    assert run.kind == SpanKind.CONSUMER
    assert run.context.trace_id == server.context.trace_id
    assert run.parent.span_id == server.context.span_id
    assert run.attributes["taskq.queue"] == "dts" and run.attributes["taskq.attempt"] == 1
    assert run.attributes["taskq.outcome"] == "completed"
    assert run.attributes["taskq.task.id"] == task_id


def test_a_retry_is_a_second_attempt_span_and_a_failure_is_recorded(spans, q, r, prefix):
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("caller") as caller:
        flaky = q.enqueue(f"{T}:fail_once_then_now", f"{prefix}:n", max_retries=1,
                          backoff="fixed", backoff_base=0)
        doomed = q.enqueue(f"{T}:fail", "no way", max_retries=0)
    PoolWorker(r, ["default"], prefix=prefix).run(burst=True)
    first, second = sorted(attempts(spans, flaky.id), key=lambda s: s.attributes["taskq.attempt"])
    assert [first.attributes["taskq.attempt"], second.attributes["taskq.attempt"]] == [1, 2]
    for span in (first, second):
        assert span.context.trace_id == caller.get_span_context().trace_id
        assert span.parent.span_id == caller.get_span_context().span_id
    assert first.status.status_code == StatusCode.ERROR
    assert first.attributes["taskq.outcome"] == "error"
    [event] = [e for e in first.events if e.name == "exception"]
    assert event.attributes["exception.type"] == "RuntimeError"
    assert second.status.status_code != StatusCode.ERROR
    assert second.attributes["taskq.outcome"] == "completed"
    [failed] = attempts(spans, doomed.id)
    assert failed.status.status_code == StatusCode.ERROR
    assert "no way" in failed.status.description


def test_async_def_tasks_run_in_their_span_and_what_they_call_joins_it(spans, q, r, prefix):
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("caller") as caller:
        tasks = [q.enqueue(f"{A}:double_later", i) for i in range(20)]
    PoolWorker(r, ["default"], prefix=prefix).run(burst=True)
    for t in tasks:
        [span] = attempts(spans, t.id)
        assert span.parent.span_id == caller.get_span_context().span_id
        assert span.attributes["taskq.outcome"] == "completed"

    async def enqueue_inside_a_task_span():
        with tracer.start_as_current_span("inner"):
            return tracing.carrier()

    assert run_async(enqueue_inside_a_task_span()).startswith('{"traceparent":"00-')


def test_workflow_steps_are_children_of_the_workflow_span(spans, r, prefix):
    from taskq.workflows import engine
    from tests.integration.workflow_drive import SHIP, registry

    wf = engine.create(r, "shop.ship", registry=registry(), prefix=prefix, context={"n": 2})
    PoolWorker(r, ["workflows"], prefix=prefix, handlers=None).run(burst=True)
    [root] = [s for s in spans.get_finished_spans() if s.name == "taskq.workflow shop.ship"]
    assert root.attributes["taskq.workflow.id"] == wf["id"]
    steps = [s for s in spans.get_finished_spans() if s.name.startswith("taskq.run ")]
    assert len(steps) == len(SHIP["step_templates"])
    assert {s.parent.span_id for s in steps} == {root.context.span_id}


def test_nothing_is_stored_outside_a_span(q):
    t = q.enqueue("operator:add", 1, 2)
    assert tracing.TRACE_FIELD not in q.redis.hgetall(q.qkeys.task(t.id))


def test_without_a_recording_span_a_task_carries_no_context(spans, q):
    t = q.enqueue("operator:add", 1, 2)
    assert tracing.TRACE_FIELD not in q.redis.hgetall(q.qkeys.task(t.id))


def test_without_the_extra_nothing_changes(redis_url, prefix):
    """opentelemetry made unimportable: taskq imports, enqueues inside no
    span, runs a task, and never tries opentelemetry again."""
    import subprocess
    import sys
    from pathlib import Path

    code = f"""
import sys
sys.modules["opentelemetry"] = None  # as if the extra were not installed
import redis, taskq, api
from taskq import tracing
from workers.pool import PoolWorker
assert not tracing.installed() and not tracing.recording() and tracing.carrier() is None
r = redis.Redis.from_url({redis_url!r}, decode_responses=True)
q = taskq.Queue("plain", redis=r, prefix={prefix!r})
t = q.enqueue("operator:add", 2, 3)
PoolWorker(r, ["plain"], prefix={prefix!r}).run(burst=True)
assert q.get(t.id).result == 5 and "trace" not in r.hgetall(q.qkeys.task(t.id))
api.create_app({{"REDIS": r, "TASKQ_PREFIX": {prefix!r}, "TASKQ_JWT_SECRET": "x" * 32}})
print("ok")
"""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
