"""The engine function every workflow step task runs: ``run_step``.

It imports the step's ``handler_class`` (a class with ``process``, or any
callable), hands it the workflow's ``context``, the step's ``inputs`` (read
at run time, so a later change is seen by steps that have not run yet) and
the ``results`` of the steps it depends on (read from their engine tasks),
and returns what the step returns: the engine stores it as the task's
result, which is the step's ``results``.

The step code is called as ``process(context, inputs, dependencies)``
where ``dependencies`` maps each dependency's step name to its results
(None for a skipped step).

Around the step's code the runner measures the attempt (duration on the
worker's monotonic clock, placed in an hour by the Redis time of the
attempt's claim; the exception's class name when it raised) and counts it once
(taskq.workflows.outcomes.record_step; what a SIGKILL loses is said there).
A failure to count is logged and never changes the step's outcome.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from typing import Any

from ..context import current_task
from ..errors import TaskqError
from ..keys import queue_of
from ..task import Task
from .states import ended_by_dependency
from ..lua import script
from .outcomes import error_type, fact_args, step_fact
from .step_reads import dep_hash, queue_reads, step_callable, texts, workflow_keys

log = logging.getLogger("taskq.workflows")


class DependencyNotMet(TaskqError):
    code = "dependency_not_met"


def run_step(workflow: str, step: str, handler_class: str, deps: dict[str, str],
             skippable_deps: list[str] | None = None) -> Any:
    ctx = current_task()
    if ctx is None:
        raise TaskqError("run_step runs inside a taskq worker only")
    client, keys = ctx.lease.client, ctx.lease.keys
    wk = workflow_keys(keys)
    reply = ctx.lease.preread  # read with the rest of its claim (step_reads.preread)
    if reply is None:
        pipe = client.pipeline(transaction=False)
        queue_reads(pipe, keys, workflow, step, deps)
        reply = pipe.execute()
    names = list(deps)
    context_text, inputs_text = texts(reply[0][:2])  # (the handler's scope and more may follow)
    if context_text is None:
        raise DependencyNotMet(f"workflow {workflow} has no record (deleted?)")
    results: dict[str, Any] = {}
    skippable = set(skippable_deps or ())
    for name, values in zip(names, reply[1:]):
        raw = dep_hash(values)
        task = Task.from_hash(deps[name], raw) if raw else None
        if task is not None and task.status == "completed":
            results[name] = task.result
        elif name in skippable and task is not None and not ended_by_dependency(task):
            results[name] = None  # skipped: its dependents go on
        else:
            # The task was released because a skippable dependency ended,
            # but this one did not complete: the step cannot run. Cancel it
            # (no retry) so its own dependents fail as they would have.
            from ..queue import Queue
            Queue(queue_of(ctx.id), redis=client, prefix=wk.prefix).cancel(
                ctx.id, reason=f"dependency {name} did not complete", mode="force")
            raise DependencyNotMet(f"step {step}: dependency {name} did not complete")
    context = json.loads(context_text)
    inputs = json.loads(inputs_text) if inputs_text else {}
    code = step_callable(handler_class)
    fact = _Fact(client, wk, workflow, step, ctx, inputs)
    after = ctx.lease.after
    try:
        result = code(context, inputs, results)
    except Exception as exc:
        fact.count(after, error_type(exc))
        raise
    if inspect.isawaitable(result):  # an async def step: the worker awaits it, then it counts
        return _counted_when_done(result, fact, after)
    fact.count(after, None)
    return result


async def _counted_when_done(awaitable: Any, fact: "_Fact", after: Any) -> Any:
    try:
        value = await awaitable
    except Exception as exc:
        fact.count(after, error_type(exc))
        raise
    fact.count(after, None)
    return value


class _Fact:
    """One attempt of a step, counted when its code has returned or raised."""

    def __init__(self, client, wk, workflow, step, ctx, inputs):
        self.args = (client, wk, workflow, step, ctx.attempt)
        # the claim of this attempt, by Redis's clock (claim-30.lua sets 'leased')
        self.started_ms = int(float(ctx.task.raw.get("leased") or time.time() * 1000))
        self.clock = time.monotonic()
        timeout = ctx.task.timeout
        if timeout is None and isinstance(inputs.get("timeout"), (int, float)) \
                and not isinstance(inputs.get("timeout"), bool) and inputs["timeout"] > 0:
            timeout = inputs["timeout"]  # the Tasker document's step inputs carry it
        self.timeout = timeout

    def count(self, after, error: str | None) -> None:
        """Count it: with a pool worker's batch (its follower's ``add_fact``),
        else with this attempt's completion (``Lease.after``), else now."""
        if hasattr(after, "add_fact"):
            _, _, workflow, step, attempt = self.args
            elapsed = int((time.monotonic() - self.clock) * 1000)
            after.add_fact(fact_args(workflow, step, attempt, self.started_ms + elapsed, elapsed,
                                     error, self.timeout))
        elif after is not None and error is None:
            after.append(self.call(None))
        else:
            self.record(error)

    def call(self, error: str | None) -> tuple[str, list, list]:
        elapsed = int((time.monotonic() - self.clock) * 1000)
        _, wk, workflow, step, attempt = self.args
        return step_fact(wk, workflow, step, attempt, self.started_ms + elapsed, elapsed,
                         error, self.timeout)

    def record(self, error: str | None) -> None:
        client, _, workflow, step, attempt = self.args
        try:
            name, keys, args = self.call(error)
            script(name)(client, keys, args)
        except Exception as exc:  # analytics must not fail a step that ran
            log.warning("workflow %s step %s: attempt %s not counted: %s", workflow, step,
                        attempt, exc)
