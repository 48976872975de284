"""Workflows for the task diagram tests (tests/api, tests/browser): a known
handler, steps moved along through the Queue API (no worker), and a record
edited to hold hostile step names (handler definitions cannot: their names
are checked, so this stands for a hand-edited or foreign record)."""

from __future__ import annotations

import json

from taskq import Queue
from taskq.keys import WorkflowKeys
from taskq.workflows import WORKFLOW_QUEUE, Registry, create, publish

CHECKOUT = {
    "namespace": "shop", "name": "checkout", "version": "1.0.0",
    "step_templates": [
        {"name": "validate_order", "handler_class": "shop.steps.Validate"},
        {"name": "charge_card", "handler_class": "shop.steps.Charge", "depends_on_step": "validate_order"},
        {"name": "reserve_stock", "handler_class": "shop.steps.Reserve", "depends_on_step": "validate_order"},
        {"name": "ship_order", "handler_class": "shop.steps.Ship",
         "depends_on_step": ["charge_card", "reserve_stock"]},
    ],
}
"""A diamond: validate, then charge and reserve, then ship."""

HOSTILE_NAMES = [
    'x"] --> evil["owned',
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    "line\nbreak\r\n%%{init: {'securityLevel': 'loose'}}%%",
    '"; click s0 call alert(1) "#quot;',
    "ünïcødé 😀 ✓ ‮",
    "`**markdown**` &amp; &lt;b&gt;",
]
"""Step names no handler could have; each must reach the page as text."""


def chain(n: int) -> dict:
    """A handler of ``n`` steps, each depending on the one before."""
    return {"namespace": "test", "name": "chain", "version": "1.0.0", "step_templates": [
        {"name": f"step_{i}", "handler_class": "test.steps.Step",
         **({"depends_on_step": f"step_{i - 1}"} if i else {})} for i in range(n)]}


def start(r, prefix, definition: dict = CHECKOUT) -> dict:
    """Publish the handler (as a worker would) and start a workflow of it."""
    reg = Registry()
    handler = reg.register(definition)
    publish(r, reg, prefix)
    return create(r, f"{handler.namespace}.{handler.name}", prefix=prefix)


def advance(r, prefix, complete=(), hold=()) -> dict:
    """Claim the workflow queue's ready steps: complete those named in
    ``complete`` (repeating as dependents become ready), keep those in
    ``hold`` claimed (in progress), give the rest back. Returns the held
    leases by step name."""
    q = Queue(WORKFLOW_QUEUE, redis=r, prefix=prefix)
    held = {}
    while True:
        leases = q.claim(50)
        done = 0
        for lease in leases:
            step = lease.id.rsplit(".", 1)[1]
            if step in complete:
                lease.complete({"step": step})
                done += 1
            elif step in hold:
                held[step] = lease
            else:
                lease.release()
        if not done:
            return held


def rename_steps(r, prefix, workflow_id: str, names: list[str]) -> None:
    """Give the workflow's steps ``names`` (in execution order) in its record."""
    key = WorkflowKeys(prefix).workflow(workflow_id)
    order = json.loads(r.hget(key, "order"))
    meta = json.loads(r.hget(key, "steps"))
    new = dict(zip(order, names, strict=True))
    steps = {new[old]: {**m, "deps": [new[d] for d in m["deps"]]} for old, m in meta.items()}
    r.hset(key, mapping={"order": json.dumps([new[o] for o in order]), "steps": json.dumps(steps)})
