"""OpenTelemetry traces from producer to worker, when the ``otel`` extra is
installed (``pip install taskq[otel]``) and an SDK tracer provider is set
(``opentelemetry-instrument``, or your own ``trace.set_tracer_provider``).

- Enqueueing inside a recording span stores its W3C trace context with the
  task (the ``trace`` field: the propagator's carrier as JSON).
- A worker runs each attempt in a CONSUMER span, a child of that context
  (``taskq.run <function>``: queue, task id, function, attempt, outcome),
  current while the task runs, so what the task calls joins the trace. An
  attempt that raises records the exception and ends with status ERROR.
- A workflow's creation is a span; its steps' attempt spans are its children.

Without the extra nothing is imported and these are no-ops; with it but no
SDK provider set, spans are not made at all (the worker's hot path pays one
check per task).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Iterator

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, SpanKind, Status, StatusCode
except ImportError:  # the extra is not installed
    trace = None

TRACE_FIELD = "trace"
"""The task hash field holding the producer's trace context."""
TRACER = "taskq"


def installed() -> bool:
    return trace is not None


def recording() -> bool:
    """Whether spans are being made: the extra, and an SDK provider set."""
    return trace is not None and not isinstance(trace.get_tracer_provider(),
                                                (ProxyTracerProvider, NoOpTracerProvider))


def carrier() -> str | None:
    """The current span's trace context as stored with a task, or None
    (no span, or one that is not valid)."""
    if trace is None or not trace.get_current_span().get_span_context().is_valid:
        return None
    found: dict[str, str] = {}
    propagate.inject(found)
    return json.dumps(found, separators=(",", ":")) if found else None


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """An INTERNAL span, current inside the block (None when not recording)."""
    if not recording():
        yield None
        return
    with trace.get_tracer(TRACER).start_as_current_span(name, attributes=attributes) as current:
        yield current


@contextlib.contextmanager
def attempt(task: Any) -> Iterator[Any]:
    """The span of one execution attempt of ``task`` (a taskq.Task), child
    of the context stored at enqueue; its outcome is set on the way out."""
    if not recording():
        yield None
        return
    stored = task.raw.get(TRACE_FIELD)
    try:
        parent = propagate.extract(json.loads(stored)) if stored else None
    except (ValueError, TypeError, AttributeError):  # not ours: start a trace of its own
        parent = None
    name = f"taskq.run {task.func}" if task.func else "taskq.run command"
    attributes = {"messaging.system": "taskq", "messaging.destination.name": task.queue,
                  "messaging.message.id": task.id, "taskq.task.id": task.id,
                  "taskq.queue": task.queue, "taskq.function": task.func or "",
                  "taskq.attempt": task.attempts}
    with trace.get_tracer(TRACER).start_as_current_span(
            name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes,
            record_exception=False, set_status_on_exception=False) as current:
        try:
            yield current
        except BaseException as exc:
            current.set_attribute("taskq.outcome", outcome_of(exc))
            current.record_exception(exc)
            current.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        current.set_attribute("taskq.outcome", "completed")


def outcome_of(exc: BaseException) -> str:
    name = type(exc).__name__
    if "Cancel" in name:
        return "cancelled"
    if "Timeout" in name:
        return "timeout"
    if "Stopped" in name:
        return "given_back"
    return "error"


def instrument_flask(app: Any) -> None:
    """Make the web process's requests spans (opentelemetry-instrumentation-flask),
    when that package is installed."""
    if trace is None:
        return
    try:
        from opentelemetry.instrumentation.flask import FlaskInstrumentor
    except ImportError:
        return
    FlaskInstrumentor().instrument_app(app)


__all__ = ["TRACE_FIELD", "attempt", "carrier", "installed", "instrument_flask", "recording",
           "span"]
