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
"""

from __future__ import annotations

import importlib
import json
from typing import Any, Callable

from ..context import current_task
from ..errors import TaskqError
from ..keys import queue_of
from ..task import Task
from .engine import ended_by_dependency
from .step_reads import dep_hash, queue_reads, step_callable, workflow_keys


class DependencyNotMet(TaskqError):
    code = "dependency_not_met"


def load_step(handler_class: str) -> Callable[[dict, dict, dict], Any]:
    """The callable behind a dotted path: a class is instantiated and its
    ``process`` (or ``__call__``) used; a function is used as it is."""
    module, _, attr = handler_class.rpartition(".")
    obj: Any = getattr(importlib.import_module(module), attr)
    if isinstance(obj, type):
        inst = obj()
        return getattr(inst, "process", inst)
    return obj


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
    context_text, inputs_text = reply[0]
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
    return step_callable(handler_class)(context, inputs, results)
